//! The one way the command talks to the edge: a JSON `POST` with an API key, and the edge's
//! [`ErrorBody`] turned into a message for the operator and an exit status.

use mailconnect_core::contract::ErrorBody;
use serde::{de::DeserializeOwned, Serialize};
use std::time::Duration;

/// A failure, and whether a mail server should retry.
#[derive(Debug)]
pub struct Failure {
    /// What went wrong, for the operator.
    pub message: String,
    /// Whether the same call may succeed later (exit status 75).
    pub retryable: bool,
}

/// POSTs `body` to `url` with `api_key` as the bearer; `answer` names what a 200 holds, for the
/// message when it does not parse.
pub fn post<A: DeserializeOwned>(url: &str, body: &impl Serialize, api_key: &str, answer: &str) -> Result<A, Failure> {
    let body = serde_json::to_string(body).expect("unreachable: plain struct");
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(30))).build().into();
    let mut response = agent
        .post(url)
        .header("authorization", &format!("Bearer {api_key}"))
        .header("content-type", "application/json")
        .send(body.as_bytes())
        .map_err(|e| Failure { message: format!("cannot reach the edge at {url}: {e}"), retryable: true })?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().map_err(|e| Failure { message: format!("reading the edge's answer failed: {e}"), retryable: true })?;
    if status == 200 {
        return serde_json::from_str(&text).map_err(|e| Failure { message: format!("the edge's answer is not {answer}: {e}"), retryable: false });
    }
    Err(match serde_json::from_str::<ErrorBody>(&text) {
        Ok(err) => Failure { message: format!("{} ({}; action: {})", err.error_description, err.error, err.action.as_str()), retryable: err.retryable },
        Err(_) => Failure { message: format!("the edge answered HTTP {status}"), retryable: status >= 500 || status == 429 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailconnect_core::contract::Disconnected;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// Answers one request on a loopback port with `status` and `body`; resolves to the edge URL.
    fn edge_answering(status: &'static str, body: &'static str) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let served = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0; 4096];
            while !String::from_utf8_lossy(&request).contains("\r\n\r\n{") {
                let n = stream.read(&mut buf).unwrap();
                request.extend_from_slice(&buf[..n]);
            }
            write!(stream, "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()).unwrap();
            String::from_utf8(request).unwrap()
        });
        (url, served)
    }

    #[test]
    fn sends_the_key_as_a_bearer_and_renders_the_edges_error_with_its_action() {
        let (url, served) = edge_answering(
            "403 Forbidden",
            r#"{"error":"backend_access_off","error_description":"connector teams does not serve the webmail's back end","action":"configuration","retryable":false}"#,
        );
        let failure = post::<Disconnected>(&format!("{url}/x"), &serde_json::json!({}), "k3y", "an answer").unwrap_err();
        assert_eq!(failure.message, "connector teams does not serve the webmail's back end (backend_access_off; action: configuration)");
        assert!(!failure.retryable);
        let request = served.join().unwrap().to_ascii_lowercase();
        assert!(request.starts_with("post /x ") && request.contains("authorization: bearer k3y\r\n"), "{request}");
    }

    #[test]
    fn a_bare_5xx_is_temporary_and_a_bare_4xx_is_not() {
        let (url, _) = edge_answering("502 Bad Gateway", "{}");
        assert!(post::<Disconnected>(&url, &serde_json::json!({}), "k", "an answer").unwrap_err().retryable);
        let (url, _) = edge_answering("404 Not Found", "{}");
        let failure = post::<Disconnected>(&url, &serde_json::json!({}), "k", "an answer").unwrap_err();
        assert_eq!((failure.message.as_str(), failure.retryable), ("the edge answered HTTP 404", false));
    }

    #[test]
    fn unreachable_edge_is_a_temporary_failure() {
        let f = post::<Disconnected>("http://127.0.0.1:9/x", &serde_json::json!({}), "k", "an answer").unwrap_err();
        assert!(f.retryable, "{}", f.message);
    }
}
