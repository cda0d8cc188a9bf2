//! `GET /oauth/connectors/{id}`: the public half of a browser connector, which the browser
//! builds its authorize URL from.

use std::rc::Rc;

use worker::{Request, Response, RouteContext};

use crate::config::Config;
use crate::cors;
use crate::error::EdgeError;

/// `GET /oauth/connectors/{id}`.
pub(crate) async fn connector(req: Request, ctx: RouteContext<Rc<Config>>) -> Result<Response, EdgeError> {
    cors::check_read(&req, &ctx.data)?;
    let id = ctx.param("id").ok_or(EdgeError::UnknownConnector)?;
    let (connector, browser) = ctx.data.browser(id)?;
    Ok(Response::from_json(&browser.public(connector))?)
}
