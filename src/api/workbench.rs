//! The merchandiser's workbench at `/`: one page and its assets, built from `web/src` by
//! `scripts/build-web.sh` into `web/dist` (committed) and embedded in the binary by
//! `build.rs`, so `kgrec serve` stays one file to deploy and the page works offline. The page
//! calls only the JSON API and `/sparql`; nothing here reads the store.
//!
//! Every answer carries a Content-Security-Policy that allows scripts, styles and requests
//! from this origin only (no inline script, no third party). Assets have content-hashed
//! names, so they are cached for a year; the page itself is revalidated on every load.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::ApiError;
use super::resource;

/// `web/dist`, as (path under `/`, bytes); `.gz` siblings are the same file gzip-compressed.
static ASSETS: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// Only this origin, no inline script, no plugins, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The routes of this group.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/", "GET, HEAD")
            .route(web::get().to(page))
            .route(web::head().to(page)),
    )
    .service(
        resource("/assets/{file}", "GET, HEAD")
            .route(web::get().to(asset))
            .route(web::head().to(asset)),
    );
}

fn find(path: &str) -> Option<&'static [u8]> {
    ASSETS.iter().find(|(p, _)| *p == path).map(|(_, b)| *b)
}

/// The media type of an asset, by its extension.
fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("woff2") => "font/woff2",
        Some("json") | Some("map") => "application/json",
        _ => "application/octet-stream",
    }
}

/// Whether the request accepts gzip.
fn accepts_gzip(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|q| matches!(q.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// Answers with the asset at `path`, gzip-compressed where the client takes it.
fn serve(req: &HttpRequest, path: &str, cache: &'static str) -> Result<HttpResponse, ApiError> {
    let plain = find(path).ok_or_else(|| {
        ApiError::NotFound(if ASSETS.is_empty() {
            "this binary was built without the workbench page (web/dist was missing)".into()
        } else {
            format!("no asset {path}")
        })
    })?;
    let mut reply = HttpResponse::Ok();
    reply
        .content_type(content_type(path))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::VARY, "Accept-Encoding"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    let gzipped = find(&format!("{path}.gz")).filter(|_| accepts_gzip(req));
    Ok(match gzipped {
        Some(body) => reply
            .insert_header((header::CONTENT_ENCODING, "gzip"))
            .body(body),
        None => reply.body(plain),
    })
}

/// The workbench page.
pub async fn page(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    serve(&req, "index.html", "no-cache")
}

/// A content-hashed asset of the page.
pub async fn asset(req: HttpRequest, file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let path = format!("assets/{file}");
    if path.ends_with(".gz") {
        return Err(ApiError::NotFound(format!("no asset {path}")));
    }
    serve(&req, &path, "public, max-age=31536000, immutable")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_taken_unless_refused() {
        let req = |v: &str| {
            actix_web::test::TestRequest::default()
                .insert_header((header::ACCEPT_ENCODING, v))
                .to_http_request()
        };
        assert!(accepts_gzip(&req("gzip, deflate, br")));
        assert!(accepts_gzip(&req("br;q=1.0, GZIP;q=0.5")));
        assert!(!accepts_gzip(&req("gzip;q=0, br")));
        assert!(!accepts_gzip(&req("identity")));
        assert!(!accepts_gzip(
            &actix_web::test::TestRequest::default().to_http_request()
        ));
    }

    /// Through the whole application: the page, an asset plain and gzipped, HEAD, a missing
    /// asset, and the headers that keep the page safe and cached right.
    #[actix_web::test]
    async fn the_page_and_its_assets_are_served_with_policy_and_caching() {
        use actix_web::test::{call_service, init_service, read_body, TestRequest};
        let state = super::super::AppState::new(
            crate::kg::KgStore::in_memory().unwrap(),
            None,
            super::super::ServiceSettings::default(),
        )
        .unwrap();
        let app = init_service(super::super::app(web::Data::new(state))).await;
        let header_of = |headers: &header::HeaderMap, h: header::HeaderName| {
            headers
                .get(h)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };

        let page = call_service(&app, TestRequest::get().uri("/").to_request()).await;
        assert_eq!(page.status(), 200);
        assert_eq!(
            header_of(page.headers(), header::CONTENT_TYPE),
            "text/html; charset=utf-8"
        );
        assert_eq!(header_of(page.headers(), header::CACHE_CONTROL), "no-cache");
        assert_eq!(
            header_of(page.headers(), header::CONTENT_SECURITY_POLICY),
            CONTENT_SECURITY_POLICY
        );
        assert_eq!(
            header_of(page.headers(), header::X_CONTENT_TYPE_OPTIONS),
            "nosniff"
        );
        let html = String::from_utf8(read_body(page).await.to_vec()).unwrap();
        let script = html
            .split('"')
            .find(|s| s.starts_with("/assets/app-") && s.ends_with(".js"))
            .expect("the page names its script")
            .to_owned();

        let plain = call_service(&app, TestRequest::get().uri(&script).to_request()).await;
        assert_eq!(plain.status(), 200);
        assert_eq!(
            header_of(plain.headers(), header::CONTENT_TYPE),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            header_of(plain.headers(), header::CACHE_CONTROL),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(header_of(plain.headers(), header::CONTENT_ENCODING), "");
        let plain_len = read_body(plain).await.len();

        let gzipped = call_service(
            &app,
            TestRequest::get()
                .uri(&script)
                .insert_header((header::ACCEPT_ENCODING, "gzip, br"))
                .to_request(),
        )
        .await;
        assert_eq!(
            header_of(gzipped.headers(), header::CONTENT_ENCODING),
            "gzip"
        );
        assert_eq!(
            header_of(gzipped.headers(), header::VARY),
            "Accept-Encoding"
        );
        let body = read_body(gzipped).await;
        assert_eq!(&body[..2], &[0x1f, 0x8b], "a gzip stream");
        assert!(body.len() < plain_len);

        let head = call_service(
            &app,
            TestRequest::default()
                .method(actix_web::http::Method::HEAD)
                .uri("/")
                .to_request(),
        )
        .await;
        assert_eq!(head.status(), 200);

        for missing in ["/assets/nothing.js", &format!("{script}.gz")] {
            let r = call_service(&app, TestRequest::get().uri(missing).to_request()).await;
            assert_eq!(r.status(), 404, "{missing}");
            assert!(header_of(r.headers(), header::CONTENT_TYPE).starts_with("application/json"));
        }
    }

    #[test]
    fn the_page_and_its_assets_are_embedded() {
        let page = std::str::from_utf8(find("index.html").expect("web/dist/index.html")).unwrap();
        // Every asset the page names is embedded, with its compressed twin.
        let named: Vec<&str> = page
            .split('"')
            .filter(|s| s.starts_with("/assets/"))
            .collect();
        assert!(named.len() >= 2, "{page}");
        for n in named {
            let path = &n[1..];
            assert!(find(path).is_some(), "{path} is not embedded");
            assert!(find(&format!("{path}.gz")).is_some(), "{path}.gz");
        }
        // And no inline script that the CSP would block.
        assert!(!page.contains("<script>"), "{page}");
    }
}
