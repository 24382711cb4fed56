//! SOAP 1.1 as the simulated service platform speaks it (RIVTABP21): envelopes, faults, reading
//! requests leniently by local name, the platform's checks of a request's address and action,
//! and [`SoapWire`], what the shared fault layer's faults look like in SOAP.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use quick_xml::escape::escape;
use roxmltree::{Document, Node};

use crate::server::Wire;

/// The SOAP 1.1 envelope namespace.
pub const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The namespace of the `LogicalAddress` header.
pub const REGISTRY_NS: &str = "urn:riv:itintegration:registry:1";
/// The namespace of an aggregating service's `ProcessingStatus` header.
pub const HEADERS_NS: &str = "urn:riv:interoperability:headers:1";
const SOAP_XML: &str = "text/xml; charset=utf-8";

/// The first element child of `node` named `name` (local name, any namespace).
pub(crate) fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

/// The trimmed text of `node` itself; `None` when it is empty.
pub(crate) fn own_text<'a>(node: Node<'a, '_>) -> Option<&'a str> {
    node.text().map(str::trim).filter(|t| !t.is_empty())
}

/// The trimmed text of the child `name`; `None` when it is missing or empty.
pub(crate) fn text<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    child(node, name).and_then(own_text)
}

/// The trimmed text at `path` (first match at each step).
pub(crate) fn text_at<'a>(node: Node<'a, '_>, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(node, |n, name| child(n, name))
        .and_then(own_text)
}

/// The Body's payload element.
pub(crate) fn payload<'a, 'i>(doc: &'a Document<'i>) -> Result<Node<'a, 'i>, String> {
    let envelope = doc.root_element();
    if envelope.tag_name().name() != "Envelope" {
        return Err(format!(
            "the root element is <{}>, not <Envelope>",
            envelope.tag_name().name()
        ));
    }
    child(envelope, "Body")
        .ok_or("the envelope has no <Body>")?
        .children()
        .find(|c| c.is_element())
        .ok_or_else(|| "the <Body> is empty".to_owned())
}

/// Appends `<name>text</name>` with the text escaped.
pub(crate) fn element(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    out.push_str(&escape(text));
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn plain(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text.to_owned(),
    )
        .into_response()
}

/// A SOAP 1.1 answer.
pub(crate) fn xml_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, SOAP_XML)], body).into_response()
}

/// A SOAP envelope around `payload`, with `header` blocks when given.
pub(crate) fn envelope(header: Option<&str>, payload: &str) -> String {
    let header = header
        .map(|h| format!("<soap:Header>{h}</soap:Header>"))
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP_ENV}">{header}<soap:Body>{payload}</soap:Body></soap:Envelope>"#
    )
}

/// A SOAP 1.1 fault to answer with.
pub(crate) struct SoapFault {
    /// `soap:Client` (the request is at fault), `soap:Server` or `soap:VersionMismatch`.
    code: &'static str,
    text: String,
}

impl SoapFault {
    pub(crate) fn client(text: impl Into<String>) -> SoapFault {
        SoapFault {
            code: "soap:Client",
            text: text.into(),
        }
    }

    pub(crate) fn server(text: impl Into<String>) -> SoapFault {
        SoapFault {
            code: "soap:Server",
            text: text.into(),
        }
    }
}

impl IntoResponse for SoapFault {
    /// With HTTP 500, as SOAP 1.1 over HTTP requires.
    fn into_response(self) -> Response {
        let mut body = String::from("<soap:Fault>");
        element(&mut body, "faultcode", self.code);
        element(&mut body, "faultstring", &self.text);
        body.push_str("</soap:Fault>");
        xml_response(StatusCode::INTERNAL_SERVER_ERROR, envelope(None, &body))
    }
}

pub(crate) fn not_found() -> Response {
    plain(
        StatusCode::NOT_FOUND,
        "no service contract is served at this address",
    )
}

pub(crate) fn method_not_allowed() -> Response {
    let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "SOAP requests are POSTed");
    response
        .headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
    response
}

/// A request's logical address and payload, checked against the expected request element.
pub(crate) struct SoapRequest<'a, 'i> {
    pub logical_address: Option<&'a str>,
    pub payload: Node<'a, 'i>,
}

pub(crate) fn read_request<'a, 'i>(
    doc: &'a Document<'i>,
    namespace: &str,
    element: &str,
) -> Result<SoapRequest<'a, 'i>, SoapFault> {
    let root = doc.root_element();
    if root.tag_name().name() == "Envelope" && root.tag_name().namespace() != Some(SOAP_ENV) {
        return Err(SoapFault {
            code: "soap:VersionMismatch",
            text: "the platform speaks SOAP 1.1 (http://schemas.xmlsoap.org/soap/envelope/)".into(),
        });
    }
    let payload = payload(doc).map_err(SoapFault::client)?;
    if payload.tag_name().name() != element || payload.tag_name().namespace() != Some(namespace) {
        return Err(SoapFault::client(format!(
            "the body must hold <{element}> in namespace {namespace}"
        )));
    }
    let logical_address = child(root, "Header")
        .and_then(|h| {
            h.children().find(|c| {
                c.is_element()
                    && c.tag_name().name() == "LogicalAddress"
                    && c.tag_name().namespace() == Some(REGISTRY_NS)
            })
        })
        .and_then(own_text);
    Ok(SoapRequest {
        logical_address,
        payload,
    })
}

/// The platform's faults for a missing or unknown logical address (SKLTP's VP003 and VP004).
pub(crate) fn check_logical_address(
    given: Option<&str>,
    served: &[String],
    namespace: &str,
) -> Result<(), SoapFault> {
    match given {
        None => Err(SoapFault::client(
            "VP003 No receiverId (logical address) found in message header",
        )),
        Some(address) if served.iter().any(|s| s == address) => Ok(()),
        Some(address) => Err(SoapFault::client(format!(
            "VP004 No logical address found for serviceNamespace: {namespace}, receiverId: {address}"
        ))),
    }
}

/// Refuses a request whose `SOAPAction` names another operation (a missing one is accepted, as
/// the platform routes by the payload's namespace).
pub(crate) fn check_soap_action(headers: &HeaderMap, expected: &str) -> Result<(), SoapFault> {
    let Some(action) = headers.get("SOAPAction").and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let action = action.trim().trim_matches('"');
    if action.is_empty() || action == expected {
        Ok(())
    } else {
        Err(SoapFault::client(format!(
            "SOAPAction {action} does not match the addressed contract ({expected})"
        )))
    }
}

/// What the shared fault layer's faults look like from the service platform.
pub(crate) struct SoapWire {
    /// The counter a request path counts under (a contract's label), if any.
    pub hit_key: fn(&str) -> Option<String>,
}

/// The record-header elements RIV-TA contracts require that [`Wire::leave_out_required`]
/// leaves out: without `documentId` a record has no key, so a consumer must leave it out and
/// say so.
const REQUIRED_ELEMENTS: &[&str] = &["documentId"];

/// How a `Huge` envelope begins and ends; padding comments go between.
const HUGE_HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><padding>"#;
const HUGE_TAIL: &str = "</padding></soap:Body></soap:Envelope>";
const HUGE_CHUNK_BYTES: usize = 64 * 1024;

impl Wire for SoapWire {
    fn content_type(&self) -> &'static str {
        SOAP_XML
    }

    /// Plain text, as a proxy or load balancer in front of the platform answers.
    fn status_answer(&self, status: StatusCode, message: &str) -> Response {
        plain(status, message)
    }

    fn protocol_error(&self) -> Response {
        SoapFault::server("VP009 Error connecting to service producer (simulated fault)")
            .into_response()
    }

    fn huge_body(&self, bytes: usize) -> Box<dyn Iterator<Item = Bytes> + Send> {
        let frame = HUGE_HEAD.len() + HUGE_TAIL.len();
        if bytes < frame {
            let whole = format!("{HUGE_HEAD}{HUGE_TAIL}").into_bytes();
            return Box::new(std::iter::once(Bytes::copy_from_slice(&whole[..bytes])));
        }
        let mut padding = bytes - frame;
        let mut parts = vec![Bytes::from_static(HUGE_HEAD.as_bytes())].into_iter();
        let mut tail = Some(Bytes::from_static(HUGE_TAIL.as_bytes()));
        Box::new(std::iter::from_fn(move || {
            if let Some(part) = parts.next() {
                return Some(part);
            }
            if padding > 0 {
                let n = padding.min(HUGE_CHUNK_BYTES);
                padding -= n;
                return Some(Bytes::from(vec![b' '; n]));
            }
            tail.take()
        }))
    }

    fn leave_out_required(&self, body: &[u8]) -> Option<Vec<u8>> {
        let text = std::str::from_utf8(body).ok()?;
        let doc = Document::parse(text).ok()?;
        let mut cut: Vec<std::ops::Range<usize>> = doc
            .descendants()
            .filter(|n| n.is_element() && REQUIRED_ELEMENTS.contains(&n.tag_name().name()))
            .map(|n| n.range())
            .collect();
        cut.sort_by_key(|r| r.start);
        let mut out = Vec::with_capacity(body.len());
        let mut at = 0;
        for range in cut {
            if range.start >= at {
                out.extend_from_slice(&body[at..range.start]);
                at = range.end;
            }
        }
        out.extend_from_slice(&body[at..]);
        Some(out)
    }

    fn hit_key(&self, path: &str) -> Option<String> {
        (self.hit_key)(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_envelope_has_exactly_its_size_and_is_xml() {
        let wire = SoapWire { hit_key: |_| None };
        for bytes in [HUGE_HEAD.len() + HUGE_TAIL.len(), 100_000, 200_003] {
            let body: Vec<u8> = wire.huge_body(bytes).flat_map(|b| b.to_vec()).collect();
            assert_eq!(body.len(), bytes);
            Document::parse(std::str::from_utf8(&body).unwrap()).unwrap();
        }
        let cut: Vec<u8> = wire.huge_body(10).flat_map(|b| b.to_vec()).collect();
        assert_eq!(cut.len(), 10);
    }

    #[test]
    fn required_record_elements_are_left_out_and_everything_else_kept() {
        let wire = SoapWire { hit_key: |_| None };
        let body = r#"<s:Envelope xmlns:s="x"><s:Body><R><h:header xmlns:h="y"><h:documentId>a</h:documentId><h:sourceSystemHSAId>S</h:sourceSystemHSAId></h:header><documentId>b</documentId></R></s:Body></s:Envelope>"#;
        let left = String::from_utf8(wire.leave_out_required(body.as_bytes()).unwrap()).unwrap();
        assert_eq!(
            left,
            r#"<s:Envelope xmlns:s="x"><s:Body><R><h:header xmlns:h="y"><h:sourceSystemHSAId>S</h:sourceSystemHSAId></h:header></R></s:Body></s:Envelope>"#
        );
        assert!(wire.leave_out_required(b"not xml").is_none());
    }
}
