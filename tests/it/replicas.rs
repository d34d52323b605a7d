//! Two `kgrec serve` replicas behind Debian's nginx, sharing one store (oxigraph's server) and
//! one registry folder: an event or a forgetting sent through the balancer reaches both
//! replicas' answers within 2 seconds, and a newly registered version is served by both
//! without a restart (one told by `POST /v1/admin/reload`, one watching the registry).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::remote::{free_port, Engine, SparqlServer};
use crate::serve::{copy_dir, shop_with_model, Service};

const NGINX: &str = "/usr/sbin/nginx";
const TOKEN: &str = "replica-admin-token";

/// nginx in front of `backends`, round robin, on a free port; stopped when dropped.
struct Balancer {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Balancer {
    fn start(backends: &[&str]) -> Option<Self> {
        if !Path::new(NGINX).exists() {
            return skip("needs nginx (Debian's nginx-light; scripts/test.sh installs it)");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let d = dir.path().display();
        let servers: String = backends
            .iter()
            .map(|b| format!("server {};", b.trim_start_matches("http://")))
            .collect();
        let conf = format!(
            "daemon off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{ access_log off; client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
               upstream kgrec {{ {servers} }}\n\
               server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://kgrec; }} }} }}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).expect("write nginx.conf");
        let child = Command::new(NGINX)
            .arg("-p")
            .arg(dir.path())
            .args(["-e", "error.log", "-c", "nginx.conf"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "nginx did not listen: {}",
                std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Balancer {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        })
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// The items of a user's history at one replica, or `None` for an unknown user.
fn history(s: &Service, user: &str) -> Option<Vec<String>> {
    let r = s.get(&format!("/v1/users/{user}/history"), None);
    match r.status {
        404 => None,
        200 => Some(
            r.json()["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|i| i["item"].as_str().expect("item").to_owned())
                .collect(),
        ),
        other => panic!("history of {user}: {other} {}", r.body),
    }
}

/// Waits until `done` holds at every replica; returns the seconds it took.
fn until(replicas: &[&Service], what: &str, done: impl Fn(&Service) -> bool) -> f64 {
    let started = Instant::now();
    loop {
        if replicas.iter().all(|s| done(s)) {
            return started.elapsed().as_secs_f64();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what}: not at every replica after 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn served_version(s: &Service) -> u64 {
    s.get("/health", None).json()["model"]["version"]
        .as_u64()
        .expect("a served version")
}

/// Registers a copy of `version` as the next version, as a finished `kgrec train` would,
/// after `edit` has changed the copied folder's files.
pub(crate) fn register_copy(registry: &Path, version: u64, edit: impl FnOnce(&Path)) -> u64 {
    let next = version + 1;
    let partial = registry.join(format!(".v{next}.partial"));
    copy_dir(&registry.join(format!("v{version}")), &partial);
    edit(&partial);
    let entry_path = partial.join("entry.json");
    let mut entry: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&entry_path).expect("entry")).expect("json");
    entry["version"] = next.into();
    entry["folder"] = format!("v{next}").into();
    std::fs::write(&entry_path, entry.to_string()).expect("write entry");
    std::fs::rename(&partial, registry.join(format!("v{next}"))).expect("rename");
    next
}

#[test]
fn replicas_behind_nginx_share_events_forgetting_and_new_versions() {
    let Some(server) = SparqlServer::start(Engine::Oxigraph) else {
        return;
    };
    let shop = shop_with_model();
    server.ok(&["load", fixture("shop.trig").to_str().expect("utf-8")]);
    let registry = tempfile::tempdir().expect("tempdir");
    copy_dir(&shop.dir.path().join("models"), registry.path());
    let args = ["--update-token", TOKEN, "--watch-registry", "1"];
    let a = Service::start_at(Path::new(&server.spec), Some(registry.path()), &args);
    let b = Service::start_at(Path::new(&server.spec), Some(registry.path()), &args);
    let Some(lb) = Balancer::start(&[&a.base, &b.base]) else {
        return;
    };
    let http = agent();
    let through_lb_post = |path: &str, body: &str| {
        let mut r = http
            .post(format!("{}{path}", lb.base))
            .header("Content-Type", "application/json")
            .send(body)
            .expect("POST through nginx");
        (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        )
    };

    // Events sent through the balancer land on both replicas in turn; each reaches the
    // other replica's answers through the change log.
    let p = "https://w3id.org/kgrec/id/fixture/product/";
    let mut slowest: f64 = 0.0;
    for item in ["P5", "P6", "P7", "P8"] {
        let before_a = history(&a, "U2").expect("U2 is known").len();
        let (status, body) = through_lb_post(
            "/v1/events",
            &format!(r#"{{"user": "U2", "item": "{item}"}}"#),
        );
        assert_eq!(status, 201, "{body}");
        let iri = format!("{p}{item}");
        let took = until(&[&a, &b], "an event", |s| {
            let h = history(s, "U2").expect("U2");
            h.len() == before_a + 1 && h.last() == Some(&iri)
        });
        slowest = slowest.max(took);
    }
    eprintln!("slowest event to reach both replicas: {slowest:.2} s");
    assert!(
        slowest <= 2.0,
        "an event took {slowest:.2} s to reach every replica"
    );
    // The answers themselves change: the new purchases leave the recommendations.
    for s in [&a, &b] {
        let r = s.get("/v1/users/U2/recommendations?k=20", None);
        assert_eq!(r.status, 200, "{}", r.body);
        let items = crate::serve::item_iris(&r.json());
        assert!(!items.contains(&format!("{p}P5")), "{items:?}");
    }

    // A user forgotten through the balancer is forgotten by both.
    let mut r = http
        .delete(format!("{}/v1/users/U3", lb.base))
        .call()
        .expect("DELETE through nginx");
    assert_eq!(
        r.status().as_u16(),
        200,
        "{}",
        r.body_mut().read_to_string().unwrap_or_default()
    );
    let took = until(&[&a, &b], "forgetting", |s| history(s, "U3").is_none());
    assert!(
        took <= 2.0,
        "forgetting took {took:.2} s to reach every replica"
    );
    let out = server.ok(&[
        "query",
        "ASK { GRAPH ?g { ?s ?p <https://w3id.org/kgrec/id/fixture/user/U3> } }",
        "--format",
        "json",
    ]);
    assert!(out.contains("false"), "{out}");
    // The user comes back with a new event: their forgetting, still in the change log's
    // window, is not applied again over it.
    let u3 = "https://w3id.org/kgrec/id/fixture/user/U3";
    let (status, body) = through_lb_post(
        "/v1/events",
        &format!(r#"{{"user": "{u3}", "item": "P2"}}"#),
    );
    assert_eq!(status, 201, "{body}");
    until(&[&a, &b], "a forgotten user's new event", |s| {
        history(s, "U3").is_some_and(|h| h == [format!("{p}P2")])
    });
    std::thread::sleep(Duration::from_millis(1500));
    for s in [&a, &b] {
        assert_eq!(history(s, "U3"), Some(vec![format!("{p}P2")]));
    }

    // A new version: one replica is told, the other sees it in the registry; both keep the
    // live histories across the swap.
    let v1 = served_version(&a);
    let v2 = register_copy(registry.path(), v1, |_| {});
    let reload = |token: Option<&str>| {
        let mut req = http.post(format!("{}/v1/admin/reload", a.base));
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let mut r = req.send_empty().expect("reload");
        (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        )
    };
    assert_eq!(reload(None).0, 401);
    let (status, body) = reload(Some(TOKEN));
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["served"], v2, "{v}");
    until(&[&a, &b], "the new version", |s| served_version(s) == v2);
    for s in [&a, &b] {
        let h = history(s, "U2").expect("U2 after the swap");
        assert_eq!(h.last(), Some(&format!("{p}P8")), "{h:?}");
        // The forgetting is applied once, before the event that came after it.
        assert_eq!(history(s, "U3"), Some(vec![format!("{p}P2")]));
    }
    // An event after the swap still reaches both.
    let (status, body) = through_lb_post("/v1/events", r#"{"user": "U4", "item": "P1"}"#);
    assert_eq!(status, 201, "{body}");
    until(&[&a, &b], "an event after the swap", |s| {
        history(s, "U4").and_then(|h| h.last().cloned()) == Some(format!("{p}P1"))
    });
}
