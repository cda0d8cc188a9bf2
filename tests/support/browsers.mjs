// One small driver layer over three browser engines, chosen by BROWSER=chromium|firefox|webkit
// (default chromium), for end-to-end tests that run in each:
//   chromium  the system Chromium through Playwright (chromium.mjs)
//   firefox   Firefox ESR through geckodriver (WebDriver, npm selenium-webdriver)
//   webkit    WebKit, Safari's engine: WebKitWebDriver driving MiniBrowser, which has no headless
//             mode, on an Xvfb display of its own
// Every driver server and X server is started here on loopback, in a process group of its own,
// and stopped by its PID at close(); binaries are given by path, so nothing is downloaded.
//
//   const browser = await launchBrowser();
//   const session = await browser.newSession();          // fresh cookies and storage
//   const page = await session.open(url);
//   const popup = await page.clickForPopup('.switch');    // the window the click opened
//   await browser.close();

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Builder, By, until } from 'selenium-webdriver';
import { launchChromium } from './chromium.mjs';
import { freePort } from './stack.mjs';

export const BROWSER = process.env.BROWSER ?? 'chromium';
export const ENGINES = ['chromium', 'firefox', 'webkit'];
const FIREFOX_PATH = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';
const GECKODRIVER_PATH = process.env.GECKODRIVER_PATH ?? join(process.env.HOME ?? '/root', '.cargo/bin/geckodriver');
const WEBKITWEBDRIVER_PATH = process.env.WEBKITWEBDRIVER_PATH ?? '/usr/bin/WebKitWebDriver';
const MINIBROWSER_PATH = process.env.MINIBROWSER ?? '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';
const XVFB_PATH = process.env.XVFB_PATH ?? '/usr/bin/Xvfb';
const TIMEOUT = 20_000;

/**
 * Why `name` cannot block a popup the way a browser people use does, or null when it can:
 * MiniBrowser under automation opens every window, and has no setting that says otherwise.
 */
export function cannotBlockPopups(name = BROWSER) {
  return name === 'webkit' ? 'MiniBrowser under WebDriver opens every window.open; no setting blocks popups' : null;
}

/**
 * Launches `name` (default $BROWSER). `insecureCerts: true` accepts the local stack's https
 * certificate without trusting its CA; `blockPopups: true` blocks a window.open without a user
 * gesture, as browsers people use do (not in WebKit: see cannotBlockPopups).
 */
export async function launchBrowser({ name = BROWSER, insecureCerts = false, blockPopups = false } = {}) {
  if (!ENGINES.includes(name)) throw new Error(`BROWSER=${name}: expected one of ${ENGINES.join(', ')}`);
  if (blockPopups && cannotBlockPopups(name)) throw new Error(`${name}: ${cannotBlockPopups(name)}`);
  if (name === 'chromium') return playwrightBrowser(await launchChromium({ blockPopups }), insecureCerts);
  return webDriverBrowser(name, insecureCerts, blockPopups);
}

function playwrightBrowser(browser, insecureCerts) {
  const pageOf = (page) => ({
    goto: (url) => page.goto(url),
    reload: () => page.reload(),
    url: async () => page.url(),
    waitFor: (selector, { timeout = TIMEOUT } = {}) => page.waitForSelector(selector, { timeout }),
    click: (selector) => page.click(selector),
    attribute: (selector, name) => page.getAttribute(selector, name),
    text: (selector) => page.textContent(selector),
    async clickForPopup(selector) {
      // Any new page of the context: under Cross-Origin-Opener-Policy it is no "popup" of this one.
      const [popup] = await Promise.all([page.context().waitForEvent('page'), page.click(selector)]);
      return pageOf(popup);
    },
    waitClosed: () => (page.isClosed() ? undefined : page.waitForEvent('close')),
  });
  return {
    name: 'chromium',
    async newSession() {
      const context = await browser.newContext({ ignoreHTTPSErrors: insecureCerts });
      return { open: async (url) => { const page = await context.newPage(); await page.goto(url); return pageOf(page); }, close: () => context.close() };
    },
    close: () => browser.close(),
  };
}

/** Resolves once `page`'s address passes `accept` (a function of the URL string). */
export async function waitForUrl(page, accept, { timeout = TIMEOUT } = {}) {
  let url;
  for (const deadline = Date.now() + timeout; Date.now() < deadline; await sleep(100)) {
    url = await page.url();
    if (accept(url)) return url;
  }
  throw new Error(`the page stayed at ${url} for ${timeout} ms`);
}

/** Starts `command` in a process group of its own; `stop()` ends the group, TERM then KILL. */
function startProcess(command, args, options = {}) {
  const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let output = '';
  for (const stream of [child.stdout, child.stderr]) stream.on('data', (chunk) => { output = (output + chunk).slice(-4000); });
  const exited = new Promise((ok) => child.once('exit', ok));
  const signal = (sig) => {
    try {
      process.kill(-child.pid, sig);
    } catch {
      // already gone
    }
  };
  const lastResort = () => signal('SIGKILL');
  process.once('exit', lastResort);
  return {
    child,
    output: () => output,
    async stop() {
      process.off('exit', lastResort);
      signal('SIGTERM');
      if (!(await Promise.race([exited.then(() => true), sleep(3000).then(() => false)]))) signal('SIGKILL');
      // Browsers the driver started live in its group and may outlast it by a moment.
      signal('SIGKILL');
    },
  };
}

async function waitForDriver(url, server) {
  for (let i = 0; i < 100; i += 1) {
    try {
      if ((await fetch(`${url}/status`)).ok) return;
    } catch {
      // not listening yet
    }
    if (server.child.exitCode !== null) break;
    await sleep(100);
  }
  throw new Error(`the WebDriver server at ${url} did not answer:\n${server.output()}`);
}

/** Xvfb on the first free display (-displayfd writes it once the server accepts clients). */
async function startXvfb() {
  const xvfb = startProcess(XVFB_PATH, ['-displayfd', '3', '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'], {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  const display = await new Promise((ok, fail) => {
    let text = '';
    xvfb.child.stdio[3].on('data', (chunk) => {
      text += chunk;
      if (text.includes('\n')) ok(`:${text.trim()}`);
    });
    xvfb.child.once('exit', () => fail(new Error(`Xvfb exited:\n${xvfb.output()}`)));
  });
  return { ...xvfb, display };
}

async function webDriverBrowser(name, insecureCerts, blockPopups) {
  const servers = [];
  const port = await freePort();
  let capabilities;
  if (name === 'firefox') {
    servers.push(startProcess(GECKODRIVER_PATH, ['--host', '127.0.0.1', '--port', String(port), '--binary', FIREFOX_PATH]));
    capabilities = {
      browserName: 'firefox',
      acceptInsecureCerts: insecureCerts,
      'moz:firefoxOptions': {
        args: ['-headless'],
        // geckodriver lets pages open windows freely unless told otherwise.
        prefs: { 'app.update.disabledForTesting': true, 'network.captive-portal-service.enabled': false, 'dom.disable_open_during_load': blockPopups },
      },
    };
  } else {
    const xvfb = await startXvfb();
    servers.push(xvfb);
    servers.push(startProcess(WEBKITWEBDRIVER_PATH, ['--host=127.0.0.1', `--port=${port}`], { env: { ...process.env, DISPLAY: xvfb.display } }));
    capabilities = {
      browserName: 'MiniBrowser',
      acceptInsecureCerts: insecureCerts,
      'webkitgtk:browserOptions': { binary: MINIBROWSER_PATH, args: ['--automation'] },
    };
  }
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForDriver(url, servers.at(-1));
  } catch (err) {
    await Promise.all(servers.map((s) => s.stop()));
    throw err;
  }
  const sessions = new Set();
  return {
    name,
    async newSession() {
      const driver = await new Builder().usingServer(url).withCapabilities(capabilities).build();
      const session = webDriverSession(driver);
      sessions.add(session);
      return { ...session, close: async () => { sessions.delete(session); await session.close(); } };
    },
    async close() {
      await Promise.allSettled([...sessions].map((s) => s.close()));
      for (const server of servers.reverse()) await server.stop();
    },
  };
}

const RETRY_CLICK = new Set(['ElementNotInteractableError', 'StaleElementReferenceError', 'ElementClickInterceptedError']);

/** One WebDriver session: its windows are pages; each call switches to its page's window first. */
function webDriverSession(driver) {
  let current = null;
  let first = true;
  const on = async (handle) => {
    if (current !== handle) await driver.switchTo().window(handle);
    current = handle;
  };
  const pageOf = (handle) => {
    const element = async (selector, timeout = TIMEOUT) => {
      await on(handle);
      return driver.wait(until.elementLocated(By.css(selector)), timeout, `no ${selector} within ${timeout} ms`);
    };
    return {
      async goto(url) { await on(handle); await driver.get(url); },
      async reload() { await on(handle); await driver.navigate().refresh(); },
      async url() { await on(handle); return driver.getCurrentUrl(); },
      waitFor: (selector, { timeout = TIMEOUT } = {}) => element(selector, timeout),
      // As Playwright does: a click waits until the element can take it (a re-render may hide
      // or replace it for a moment).
      async click(selector) {
        const deadline = Date.now() + TIMEOUT;
        for (;;) {
          try {
            return await (await element(selector)).click();
          } catch (err) {
            if (!RETRY_CLICK.has(err.name) || Date.now() > deadline) throw err;
            await sleep(100);
          }
        }
      },
      attribute: async (selector, name) => (await element(selector)).getAttribute(name),
      text: async (selector) => (await element(selector)).getText(),
      async clickForPopup(selector) {
        await on(handle);
        const before = new Set(await driver.getAllWindowHandles());
        await (await element(selector)).click();
        return pageOf(await newWindow(driver, before));
      },
      async waitClosed() {
        for (let i = 0; i < TIMEOUT / 100; i += 1) {
          if (!(await driver.getAllWindowHandles()).includes(handle)) {
            if (current === handle) current = null;
            return;
          }
          await sleep(100);
        }
        throw new Error('the window did not close');
      },
    };
  };
  return {
    async open(url) {
      // The session starts with one window; later pages are new tabs of the same profile.
      if (first) {
        first = false;
        current = await driver.getWindowHandle();
      } else {
        await driver.switchTo().newWindow('tab');
        current = await driver.getWindowHandle();
      }
      const page = pageOf(current);
      await page.goto(url);
      return page;
    },
    close: () => driver.quit(),
  };
}

/**
 * The handle of the window a click opened. Under Cross-Origin-Opener-Policy the engine may replace
 * a popup's window after its about:blank start, so the handle counts once it stays the same.
 */
async function newWindow(driver, before) {
  let seen = null;
  let stable = 0;
  for (let i = 0; i < TIMEOUT / 100; i += 1) {
    const fresh = (await driver.getAllWindowHandles()).filter((h) => !before.has(h));
    const handle = fresh.length === 1 ? fresh[0] : null;
    stable = handle && handle === seen ? stable + 1 : 0;
    seen = handle;
    if (stable >= 3) return handle;
    await sleep(100);
  }
  throw new Error('no new window opened');
}
