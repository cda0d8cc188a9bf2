//! `OPTIONS /oauth/*`: CORS preflights, which only allowed origins pass ([`crate::cors`]).

use std::rc::Rc;

use mailconnect_core::contract::CSRF_HEADER;
use worker::{Request, Response, RouteContext};

use crate::config::Config;
use crate::cors::origin;
use crate::error::EdgeError;

/// `OPTIONS /oauth/*`: the preflight, answered for allowed origins only.
pub(crate) async fn preflight(req: Request, ctx: RouteContext<Rc<Config>>) -> Result<Response, EdgeError> {
    if !origin(&req).is_some_and(|o| ctx.data.allows_origin(&o)) {
        return Err(EdgeError::Origin);
    }
    let response = Response::empty()?.with_status(204);
    let headers = response.headers();
    headers.set("access-control-allow-methods", "GET, POST")?;
    headers.set("access-control-allow-headers", &format!("content-type, {CSRF_HEADER}"))?;
    headers.set("access-control-max-age", "600")?;
    Ok(response)
}
