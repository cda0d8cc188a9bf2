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
// A page offers what the e2e scenarios use of Playwright's Page, with Playwright's meaning:
// goto, reload, url, title, waitFor(selector), waitUntil(fn, arg), click, fill, attribute, text
// (textContent), value, checked, visible, evaluate(fn, arg), cookies (of its address),
// screenshot(path), clickForPopup, waitClosed, close; a session: open, windowCount, close.

import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Builder, By } from 'selenium-webdriver';
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
// Navigations end at DOMContentLoaded, not at the load event: scenarios wait for the page's own
// readiness (the demo's #app[data-ready]), and nothing of theirs waits on every subresource.
const LOADED = { waitUntil: 'domcontentloaded' };

/**
 * Launches `name` (default $BROWSER). `insecureCerts: true` accepts the local stack's https
 * certificate without trusting its CA; `blockPopups: true` blocks a window.open without a user
 * gesture, as browsers people use do. WebKit (MiniBrowser, as Safari) always blocks those, and
 * WebDriver has no setting that allows them: scenarios open windows by clicks.
 */
export async function launchBrowser({ name = BROWSER, insecureCerts = false, blockPopups = false } = {}) {
  if (!ENGINES.includes(name)) throw new Error(`BROWSER=${name}: expected one of ${ENGINES.join(', ')}`);
  if (name === 'chromium') return playwrightBrowser(await launchChromium({ blockPopups }), insecureCerts);
  return webDriverBrowser(name, insecureCerts, blockPopups);
}

function playwrightBrowser(browser, insecureCerts) {
  const pageOf = (page) => ({
    goto: (url) => page.goto(url, LOADED),
    reload: () => page.reload(LOADED),
    url: async () => page.url(),
    title: () => page.title(),
    waitFor: (selector, { timeout = TIMEOUT } = {}) => page.waitForSelector(selector, { timeout }),
    waitUntil: (fn, arg, { timeout = TIMEOUT } = {}) => page.waitForFunction(fn, arg, { timeout }),
    click: (selector) => page.click(selector),
    fill: (selector, value) => page.fill(selector, value),
    attribute: (selector, name) => page.getAttribute(selector, name),
    text: (selector) => page.textContent(selector),
    value: (selector) => page.inputValue(selector),
    checked: (selector) => page.isChecked(selector),
    visible: (selector) => page.isVisible(selector),
    evaluate: (fn, arg) => page.evaluate(fn, arg),
    cookies: () => page.context().cookies(page.url()),
    screenshot: (path) => page.screenshot({ path, fullPage: true }),
    async clickForPopup(selector) {
      // Any new page of the context: under Cross-Origin-Opener-Policy it is no "popup" of this one.
      const [opened] = await Promise.all([page.context().waitForEvent('page'), page.click(selector)]);
      return pageOf(opened);
    },
    waitClosed: () => (page.isClosed() ? undefined : page.waitForEvent('close')),
    close: () => page.close(),
  });
  return {
    name: 'chromium',
    async newSession() {
      const context = await browser.newContext({ ignoreHTTPSErrors: insecureCerts });
      return {
        open: async (url) => { const page = await context.newPage(); await page.goto(url, LOADED); return pageOf(page); },
        windowCount: async () => context.pages().length,
        close: () => context.close(),
      };
    },
    close: () => browser.close(),
  };
}

/** Runs `fn` with a fresh session of `browser` (its own cookies and storage) and always closes it. */
export async function inSession(browser, fn) {
  const session = await browser.newSession();
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
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
      pageLoadStrategy: 'eager',
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
      pageLoadStrategy: 'eager',
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

// Errors of an element a re-render hid or replaced for a moment: as Playwright does, an action
// waits until the element can take it.
const RETRY = new Set(['ElementNotInteractableError', 'StaleElementReferenceError', 'ElementClickInterceptedError']);

/**
 * Runs `fn` (a function, or its source) in the page with `arg`, awaiting what it returns, like
 * Playwright's page.evaluate. The function's source goes into the script, so the page's scope and
 * globals are those of any script it runs.
 */
const evaluateScript = (fn) => `const done = arguments[arguments.length - 1];
Promise.resolve(arguments[0]).then(${fn}).then((value) => done({ value }), (err) => done({ error: String(err?.stack ?? err) }));`;
const setValueScript = `const [el, value] = arguments;
el.value = value;
el.dispatchEvent(new Event('input', { bubbles: true }));
el.dispatchEvent(new Event('change', { bubbles: true }));`;

/**
 * One WebDriver session: its windows are pages. WebDriver acts on one window at a time, so each
 * step (switch to the page's window, then its commands) holds the session's lock, and waits poll
 * with such steps: pages of one session may be driven at once (Promise.all).
 */
function webDriverSession(driver) {
  let current = null;
  let first = true;
  let queue = Promise.resolve();
  const locked = (fn) => {
    const step = queue.then(fn);
    queue = step.catch(() => {});
    return step;
  };
  const inWindow = (handle, fn) => locked(async () => {
    if (current !== handle) {
      await driver.switchTo().window(handle);
      current = handle;
    }
    return fn();
  });
  /** Polls `check` (resolving to undefined until it holds) until it holds or `timeout` passes. */
  const poll = async (check, what, timeout = TIMEOUT) => {
    for (const deadline = Date.now() + timeout; ; await sleep(100)) {
      try {
        const result = await check();
        if (result !== undefined) return result;
      } catch (err) {
        if (!RETRY.has(err.name)) throw err;
      }
      if (Date.now() > deadline) throw new Error(`${what} within ${timeout} ms`);
    }
  };
  const pageOf = (handle) => {
    const onElement = (selector, act, timeout) => poll(() => inWindow(handle, async () => {
      const [element] = await driver.findElements(By.css(selector));
      return element ? { value: await act(element) } : undefined;
    }), `no ${selector}`, timeout).then((found) => found.value);
    const evaluate = async (fn, arg) => {
      const result = await inWindow(handle, () => driver.executeAsyncScript(evaluateScript(fn), arg));
      if (result?.error !== undefined) throw new Error(`in the page: ${result.error}`);
      return result?.value;
    };
    return {
      goto: (url) => inWindow(handle, () => driver.get(url)),
      reload: () => inWindow(handle, () => driver.navigate().refresh()),
      url: () => inWindow(handle, () => driver.getCurrentUrl()),
      title: () => inWindow(handle, () => driver.getTitle()),
      waitFor: (selector, { timeout = TIMEOUT } = {}) => onElement(selector, () => true, timeout),
      waitUntil: (fn, arg, { timeout = TIMEOUT } = {}) => poll(async () => ((await evaluate(fn, arg)) ? true : undefined), `${fn} did not hold`, timeout),
      click: (selector) => onElement(selector, (element) => element.click()),
      fill: (selector, value) => onElement(selector, (element) => driver.executeScript(setValueScript, element, value)),
      attribute: (selector, name) => onElement(selector, (element) => element.getAttribute(name)),
      // textContent, as Playwright gives it (WebDriver's getText is the rendered, visible text).
      text: (selector) => onElement(selector, (element) => driver.executeScript('return arguments[0].textContent', element)),
      value: (selector) => onElement(selector, (element) => driver.executeScript('return arguments[0].value', element)),
      checked: (selector) => onElement(selector, (element) => driver.executeScript('return arguments[0].checked', element)),
      visible: (selector) => onElement(selector, (element) => element.isDisplayed()),
      evaluate,
      cookies: () => inWindow(handle, () => driver.manage().getCookies()),
      screenshot: async (path) => writeFile(path, await inWindow(handle, () => driver.takeScreenshot()), 'base64'),
      async clickForPopup(selector) {
        const before = new Set(await locked(() => driver.getAllWindowHandles()));
        await onElement(selector, (element) => element.click());
        return pageOf(await newWindow(driver, before, { locked, inWindow }));
      },
      waitClosed: () => poll(async () => {
        const open = await locked(() => driver.getAllWindowHandles());
        return open.includes(handle) ? undefined : true;
      }, 'the window did not close'),
      close: () => inWindow(handle, async () => {
        await driver.close();
        current = null;
      }),
    };
  };
  return {
    open: (url) => locked(async () => {
      // The session starts with one window; later pages are new windows of the same profile, not
      // tabs: MiniBrowser keeps a tab that WebDriver opens hidden (visibilityState "hidden", even
      // once switched to), where a click opens no window and the page is not what a person sees.
      if (first) first = false;
      else await driver.switchTo().newWindow('window');
      current = await driver.getWindowHandle();
      await driver.get(url);
      return pageOf(current);
    }),
    windowCount: () => locked(async () => (await driver.getAllWindowHandles()).length),
    close: () => locked(() => driver.quit()),
  };
}

/**
 * The handle of the window a click opened, once its first page has loaded. A popup starts as
 * about:blank, and under Cross-Origin-Opener-Policy an engine may replace that window by another
 * (a new handle) when the popup's cross-origin page commits. So the opened window is the new one
 * whose address has left about:blank, a handle that is no longer replaced; a handle that is gone
 * by the time it is asked is skipped.
 */
async function newWindow(driver, before, { locked, inWindow }) {
  for (const deadline = Date.now() + TIMEOUT; Date.now() < deadline; await sleep(100)) {
    const fresh = (await locked(() => driver.getAllWindowHandles())).filter((h) => !before.has(h));
    for (const handle of fresh) {
      try {
        if ((await inWindow(handle, () => driver.getCurrentUrl())) !== 'about:blank') return handle;
      } catch (err) {
        if (err.name !== 'NoSuchWindowError') throw err;
      }
    }
  }
  throw new Error('no new window opened');
}
