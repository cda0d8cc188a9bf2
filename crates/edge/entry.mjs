// The Worker's entry module (wrangler.toml `main`): worker-build's output, with two changes.
//
// 1. workerd offers Workers RPC only to Durable Object classes that extend `DurableObject`, and
//    worker-build 0.8.7 exports wasm-bindgen's plain classes. The Worker calls all of its
//    objects over RPC (crates/edge/src/rpc.rs), so their classes are made to extend
//    `DurableObject` here; their constructors stay wasm-bindgen's. workers-rs PR #726 would do
//    this in worker-build.
// 2. Requests enter Rust through the handler's own function rather than a WorkerEntrypoint
//    instance that worker-build wraps in proxies for every request, which costs time on every
//    request (README, "Measured"). Recovery from a crash is kept: wasm-bindgen's
//    glue re-instantiates the module on the first call after a trap, and while the `worker`
//    crate's panic flag is up a request goes the instance's way, whose proxy resets the module
//    and clears the flag.
import { DurableObject } from 'cloudflare:workers';
import worker, { AppTokens, Exchanges, Session } from './build/index.js';

for (const object of [AppTokens, Exchanges, Session]) {
  Object.setPrototypeOf(object.prototype, DurableObject.prototype);
  Object.setPrototypeOf(object, DurableObject);
}

const { fetch } = worker.prototype;

export default {
  fetch(request, env, ctx) {
    if (globalThis.__worker_init_state.criticalError) return new worker(ctx, env).fetch(request);
    return fetch.call({ env, ctx }, request);
  },
};

export { AppTokens, Exchanges, Session };
