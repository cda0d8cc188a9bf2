// The Worker's entry module (wrangler.toml `main`): worker-build's output, with one change.
//
// workerd offers Workers RPC only to Durable Object classes that extend `DurableObject`, and
// worker-build 0.8.7 exports wasm-bindgen's plain classes. The Worker calls both of its objects
// over RPC (crates/edge/src/rpc.rs), so their classes are made to extend `DurableObject` here;
// their constructors stay wasm-bindgen's. workers-rs PR #726 would do this in worker-build.
import { DurableObject } from 'cloudflare:workers';
import worker, { AppTokens, Session } from './build/index.js';

for (const object of [AppTokens, Session]) {
  Object.setPrototypeOf(object.prototype, DurableObject.prototype);
  Object.setPrototypeOf(object, DurableObject);
}

export { worker as default, AppTokens, Session };
