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
import { until } from './until.mjs';

export const BROWSER = process.env.BROWSER ?? 'chromium';
export const ENGINES = ['chromium', 'firefox', 'webkit'];
const FIREFOX_PATH = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';
const GECKODRIVER_PATH = process.env.GECKODRIVER_PATH ?? join(process.env.HOME ?? '/root', '.cargo/bin/geckodriver');
const WEBKITWEBDRIVER_PATH = process.env.WEBKITWEBDRIVER_PATH ?? '/usr/bin/WebKitWebDriver';
const MINIBROWSER_PATH = process.env.MINIBROWSER ?? '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';
const XVFB_PATH = process.env.XVFB_PATH ?? '/usr/bin/Xvfb';
const TIMEOUT = 20_000;
// WebDriver's own limits on a script and on a navigation, and the bound on any one command to the
// driver (longer, so that the driver's own error comes first): a command stuck in the driver or the
// browser fails, naming itself and its page, instead of hanging the test until node:test's timeout.
const DRIVER_TIMEOUTS = { script: TIMEOUT, pageLoad: TIMEOUT, implicit: 0 };
const COMMAND_TIMEOUT = 30_000;
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
  const check = async () => {
    url = await page.url();
    return accept(url) && url;
  };
  return until(check, 'address that passes the check', { timeout, describe: () => `the page stayed at ${url}` });
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
      // WebKit's own wait for a navigation to complete, which every command runs first under
      // 'eager' or 'normal', now and then never sees a load that did complete (seen after a form's
      // POST and redirects in the sign-in window): the command then hangs until the page load
      // timeout, or longer. Under 'none' commands do not wait, and navigate() waits for the page.
      pageLoadStrategy: 'none',
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
      const server = servers.at(-1);
      const built = new Builder().usingServer(url).withCapabilities(capabilities).build();
      let driver;
      try {
        driver = await bounded('new session', built, server);
      } catch (err) {
        // A session the driver makes after all is ended, not left behind with its browser.
        built.then((late) => late.quit()).catch(() => {});
        throw err;
      }
      try {
        await bounded('setTimeouts', driver.manage().setTimeouts(DRIVER_TIMEOUTS), server);
      } catch (err) {
        await bounded('quit', driver.quit(), server).catch(() => {});
        throw err;
      }
      const session = webDriverSession(driver, server);
      sessions.add(session);
      return { ...session, close: async () => { sessions.delete(session); await session.close(); } };
    },
    async close() {
      await Promise.allSettled([...sessions].map((s) => s.close()));
      for (const server of servers.reverse()) await server.stop();
    },
  };
}

/**
 * Resolves as `command` does, or rejects once it fails or COMMAND_TIMEOUT passes, with an error
 * that names `what` (the command and its page) and tells how the driver server is (`server`).
 * A failure keeps its name (StaleElementReferenceError...), which callers may retry on.
 */
async function bounded(what, command, server) {
  let timer;
  const expired = new Promise((_, fail) => {
    timer = setTimeout(() => fail(new Error(`got no answer within ${COMMAND_TIMEOUT} ms`)), COMMAND_TIMEOUT);
  });
  try {
    return await Promise.race([command, expired]);
  } catch (err) {
    err.message = `WebDriver ${what}: ${err.message}${server ? `\n${serverState(server)}` : ''}`;
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

function serverState(server) {
  const { exitCode, signalCode } = server.child;
  const state = exitCode === null && signalCode === null ? 'running' : `exited (${exitCode ?? signalCode})`;
  return `the driver server is ${state}; its last output:\n${server.output() || '(none)'}`;
}

// Errors of an element a re-render hid or replaced for a moment: as Playwright does, an action
// waits until the element can take it. The layer uses no frames, so a NoSuchFrameError is WebKit's
// answer to a command whose document a navigation replaced under it ("Callback was not called
// before the unload event"): the next try meets the new document.
const RETRY = new Set(['ElementNotInteractableError', 'StaleElementReferenceError', 'ElementClickInterceptedError', 'NoSuchFrameError']);

/**
 * Runs `fn` (a function, or its source) in the page with `arg`, awaiting what it returns, like
 * Playwright's page.evaluate. The function's source goes into the script, so the page's scope and
 * globals are those of any script it runs.
 */
const evaluateScript = (fn) => `const done = arguments[arguments.length - 1];
Promise.resolve(arguments[0]).then(${fn}).then((value) => done({ value }), (err) => done({ error: String(err?.stack ?? err) }));`;
const LEFT = '__webdriverLeftThisDocument';
const LOADED_SCRIPT = `return window.${LEFT} !== true && document.readyState !== 'loading' ? true : undefined;`;
const setValueScript = `const [el, value] = arguments;
el.value = value;
el.dispatchEvent(new Event('input', { bubbles: true }));
el.dispatchEvent(new Event('change', { bubbles: true }));`;

/**
 * One WebDriver session: its windows are pages. WebDriver acts on one window at a time, so each
 * step (switch to the page's window, then its commands) holds the session's lock, and waits poll
 * with such steps: pages of one session may be driven at once (Promise.all). Each step is bounded
 * and named by what it does and the page's last known address.
 */
function webDriverSession(driver, server) {
  let current = null;
  let first = true;
  let queue = Promise.resolve();
  const addresses = new Map();
  const pageName = (handle) => `window ${handle} at ${addresses.get(handle) ?? 'an unknown address'}`;
  const locked = (what, fn) => {
    const step = queue.then(() => bounded(what, fn(), server));
    queue = step.catch(() => {});
    return step;
  };
  const inWindow = (handle, what, fn) => locked(`${what} in ${pageName(handle)}`, async () => {
    if (current !== handle) {
      await driver.switchTo().window(handle);
      current = handle;
    }
    return fn();
  });
  /**
   * Runs `go` (a navigation of `handle`'s window), then waits until the window holds a new
   * document past 'loading' (DOMContentLoaded, as 'eager' would): the old document carries a mark,
   * so its own readyState is not taken for the new one's. Under 'eager' that holds at once.
   */
  const navigate = async (handle, what, go) => {
    await inWindow(handle, what, async () => {
      await driver.executeScript(`window.${LEFT} = true`);
      await go();
    });
    await poll(() => inWindow(handle, `readyState after ${what}`, () => driver.executeScript(LOADED_SCRIPT)), `${what} did not load in ${pageName(handle)}`);
  };
  const addressOf = async (handle) => {
    const url = await inWindow(handle, 'getCurrentUrl', () => driver.getCurrentUrl());
    addresses.set(handle, url);
    return url;
  };
  /**
   * Polls `check` (resolving to undefined, or a script's null, until it holds) until it holds or
   * `timeout` passes.
   */
  const poll = async (check, what, timeout = TIMEOUT) => {
    let last = '';
    for (const deadline = Date.now() + timeout; ; await sleep(100)) {
      try {
        const result = await check();
        if (result !== undefined && result !== null) return result;
      } catch (err) {
        if (!RETRY.has(err.name)) throw err;
        last = `; last: ${err.message}`;
      }
      if (Date.now() > deadline) throw new Error(`${what} within ${timeout} ms${last}`);
    }
  };
  const pageOf = (handle) => {
    const onElement = (selector, what, act, timeout) => poll(() => inWindow(handle, `${what} ${selector}`, async () => {
      const [element] = await driver.findElements(By.css(selector));
      return element ? { value: await act(element) } : undefined;
    }), `no ${selector} in ${pageName(handle)}`, timeout).then((found) => found.value);
    const evaluate = async (fn, arg) => {
      const result = await inWindow(handle, 'executeAsyncScript', () => driver.executeAsyncScript(evaluateScript(fn), arg));
      if (result?.error !== undefined) throw new Error(`in the page: ${result.error}`);
      return result?.value;
    };
    const script = (source) => (element) => driver.executeScript(source, element);
    return {
      goto: (url) => {
        addresses.set(handle, url);
        return navigate(handle, `get ${url}`, () => driver.get(url));
      },
      reload: () => navigate(handle, 'refresh', () => driver.navigate().refresh()),
      url: () => addressOf(handle),
      title: () => inWindow(handle, 'getTitle', () => driver.getTitle()),
      waitFor: (selector, { timeout = TIMEOUT } = {}) => onElement(selector, 'find', () => true, timeout),
      waitUntil: (fn, arg, { timeout = TIMEOUT } = {}) => poll(async () => ((await evaluate(fn, arg)) ? true : undefined), `${fn} did not hold`, timeout),
      click: (selector) => onElement(selector, 'click', (element) => element.click()),
      fill: (selector, value) => onElement(selector, 'fill', (element) => driver.executeScript(setValueScript, element, value)),
      attribute: (selector, name) => onElement(selector, `getAttribute ${name} of`, (element) => element.getAttribute(name)),
      // textContent, as Playwright gives it (WebDriver's getText is the rendered, visible text).
      text: (selector) => onElement(selector, 'textContent of', script('return arguments[0].textContent')),
      value: (selector) => onElement(selector, 'value of', script('return arguments[0].value')),
      checked: (selector) => onElement(selector, 'checked of', script('return arguments[0].checked')),
      visible: (selector) => onElement(selector, 'isDisplayed', (element) => element.isDisplayed()),
      evaluate,
      cookies: () => inWindow(handle, 'getCookies', () => driver.manage().getCookies()),
      screenshot: async (path) => writeFile(path, await inWindow(handle, 'takeScreenshot', () => driver.takeScreenshot()), 'base64'),
      async clickForPopup(selector) {
        const before = new Set(await locked(`getAllWindowHandles before clicking ${selector}`, () => driver.getAllWindowHandles()));
        await onElement(selector, 'click', (element) => element.click());
        return pageOf(await newWindow(driver, before, { locked, addressOf }));
      },
      waitClosed: () => poll(async () => {
        const open = await locked(`getAllWindowHandles waiting for ${pageName(handle)} to close`, () => driver.getAllWindowHandles());
        return open.includes(handle) ? undefined : true;
      }, `${pageName(handle)} did not close`),
      close: () => inWindow(handle, 'close', async () => {
        await driver.close();
        current = null;
      }),
    };
  };
  return {
    async open(url) {
      const handle = await locked(`open a window for ${url}`, async () => {
        // The session starts with one window; later pages are new windows of the same profile, not
        // tabs: MiniBrowser keeps a tab that WebDriver opens hidden (visibilityState "hidden", even
        // once switched to), where a click opens no window and the page is not what a person sees.
        if (first) first = false;
        else await driver.switchTo().newWindow('window');
        current = await driver.getWindowHandle();
        return current;
      });
      addresses.set(handle, url);
      await navigate(handle, `get ${url}`, () => driver.get(url));
      return pageOf(handle);
    },
    windowCount: () => locked('getAllWindowHandles', async () => (await driver.getAllWindowHandles()).length),
    close: () => locked('quit', () => driver.quit()),
  };
}

/**
 * The handle of the window a click opened, once its first page has loaded. A popup starts as
 * about:blank, and under Cross-Origin-Opener-Policy an engine may replace that window by another
 * (a new handle) when the popup's cross-origin page commits. So the opened window is the new one
 * whose address has left about:blank, a handle that is no longer replaced; a handle that is gone
 * by the time it is asked is skipped.
 */
async function newWindow(driver, before, { locked, addressOf }) {
  for (const deadline = Date.now() + TIMEOUT; Date.now() < deadline; await sleep(100)) {
    const fresh = (await locked('getAllWindowHandles for a new window', () => driver.getAllWindowHandles())).filter((h) => !before.has(h));
    for (const handle of fresh) {
      try {
        if ((await addressOf(handle)) !== 'about:blank') return handle;
      } catch (err) {
        if (err.name !== 'NoSuchWindowError') throw err;
      }
    }
  }
  throw new Error('no new window opened');
}
