//! A/B tests between registered versions: the split of users into arms, the exposure log, and
//! the report with its confidence intervals.
//!
//! - **Split.** A user's arm follows from the SHA-256 of the experiment's name and the user's
//!   IRI, so every replica and every restart puts a user in the same arm, and a new experiment
//!   name reshuffles everyone.
//! - **Exposures.** Each answer served to a user in the experiment is logged (who, which arm,
//!   when, what was shown) in the store's graph `graph/experiments/{name}`, batched by the
//!   service every poll of the change log: the log is shared by every replica and queryable
//!   with SPARQL.
//! - **Report.** Per arm: the users exposed, their exposures, and the clicks and purchases
//!   each user made within a window after their first exposure; the share of users who
//!   clicked and who bought, with Wilson 95% intervals, and each arm's difference from the
//!   first arm with Newcombe's 95% interval. The user is the unit: users are what was
//!   randomised, so their answers are independent, while one user's exposures are not.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use oxigraph::model::vocab::xsd;
use oxigraph::model::{Literal, NamedNode, Quad, Term};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::RecError;
use crate::eval::data::unix_seconds;
use crate::ingest::builder::unix_to_datetime;
use crate::kg::vocab::{graph, kgr, rdf_type, GraphPart, InteractionKind, GRAPH, ID};
use crate::kg::KgStore;

/// One arm as configured: a registered version and its share of users.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ArmSpec {
    /// The arm's name (`v3`).
    pub name: String,
    /// The registered version it serves.
    pub version: u64,
    /// Its share of users, in percent.
    pub percent: f64,
}

/// An experiment as configured: `name: v3 50%, v4 50%`.
#[derive(Clone, Debug, PartialEq)]
pub struct ExperimentSpec {
    /// Its name (letters, digits, `-`, `_`, `.`): part of the split's hash and of the log's
    /// graph.
    pub name: String,
    /// Its arms, the first being the one the others are compared with.
    pub arms: Vec<ArmSpec>,
}

impl ExperimentSpec {
    /// Reads `name: vA P%, vB Q%, …`; the shares must add up to 100%.
    pub fn parse(text: &str) -> Result<Self, RecError> {
        let bad = |m: String| {
            RecError::BadData(format!(
                "experiment {text:?}: {m} (expected `name: v3 50%, v4 50%`)"
            ))
        };
        let (name, arms) = text
            .split_once(':')
            .ok_or_else(|| bad("no `:` after the name".into()))?;
        let name = name.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(bad(format!(
                "the name {name:?} must be letters, digits, `-`, `_` or `.`"
            )));
        }
        let mut parsed = Vec::new();
        for arm in arms.split(',') {
            let mut parts = arm.split_whitespace();
            let (Some(version), Some(percent), None) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(bad(format!("the arm {:?} is not `vN P%`", arm.trim())));
            };
            let number = version
                .strip_prefix('v')
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| bad(format!("{version:?} is not a version like v3")))?;
            let share = percent
                .strip_suffix('%')
                .and_then(|p| p.parse::<f64>().ok())
                .filter(|p| p.is_finite() && *p > 0.0)
                .ok_or_else(|| bad(format!("{percent:?} is not a positive share like 50%")))?;
            if parsed.iter().any(|a: &ArmSpec| a.version == number) {
                return Err(bad(format!("{version} is named twice")));
            }
            parsed.push(ArmSpec {
                name: format!("v{number}"),
                version: number,
                percent: share,
            });
        }
        if parsed.len() < 2 {
            return Err(bad("an experiment needs at least two arms".into()));
        }
        let total: f64 = parsed.iter().map(|a| a.percent).sum();
        if (total - 100.0).abs() > 1e-6 {
            return Err(bad(format!("the shares add up to {total}%, not 100%")));
        }
        Ok(ExperimentSpec {
            name: name.to_owned(),
            arms: parsed,
        })
    }

    /// The arm (index into [`ExperimentSpec::arms`]) of `user`: the first 8 bytes of
    /// SHA-256(name, user) as a fraction of 2⁶⁴, placed among the cumulative shares.
    pub fn arm_of(&self, user: &str) -> usize {
        let digest = Sha256::new()
            .chain_update(self.name.as_bytes())
            .chain_update([0u8])
            .chain_update(user.as_bytes())
            .finalize();
        let mut head = [0u8; 8];
        head.copy_from_slice(&digest[..8]);
        let x = u64::from_be_bytes(head) as f64 / 2f64.powi(64) * 100.0;
        let mut upto = 0.0;
        for (i, arm) in self.arms.iter().enumerate() {
            upto += arm.percent;
            if x < upto {
                return i;
            }
        }
        self.arms.len() - 1
    }

    /// The named graph of this experiment's exposures.
    pub fn graph(&self) -> NamedNode {
        NamedNode::new_unchecked(format!("{GRAPH}experiments/{}", self.name))
    }
}

/// One answer served to a user in an experiment.
#[derive(Clone, Debug)]
pub struct Exposure {
    /// The arm's name.
    pub arm: String,
    /// User IRI.
    pub user: String,
    /// Unix seconds.
    pub time: i64,
    /// The products shown, best first.
    pub shown: Vec<String>,
}

/// Exposures waiting to be written, in batches, to the store.
#[derive(Default)]
pub struct ExposureLog {
    pending: Mutex<Vec<Exposure>>,
    /// Held for a whole flush, so that a flush which finds nothing waiting (the report's)
    /// returns only once a batch another thread took is in the store.
    writing: Mutex<()>,
}

impl ExposureLog {
    /// Keeps an exposure for the next [`ExposureLog::flush`].
    pub fn push(&self, exposure: Exposure) -> Result<(), RecError> {
        self.pending
            .lock()
            .map_err(|_| RecError::Poisoned("the exposure log"))?
            .push(exposure);
        Ok(())
    }

    /// Writes what is waiting to `spec`'s graph in one transaction; on failure it is kept
    /// for the next try.
    pub fn flush(&self, store: &KgStore, spec: &ExperimentSpec) -> Result<usize, RecError> {
        let _writing = self
            .writing
            .lock()
            .map_err(|_| RecError::Poisoned("the exposure log"))?;
        let batch = std::mem::take(
            &mut *self
                .pending
                .lock()
                .map_err(|_| RecError::Poisoned("the exposure log"))?,
        );
        if batch.is_empty() {
            return Ok(0);
        }
        let g = spec.graph();
        let mut quads = Vec::with_capacity(batch.len() * 16);
        for e in &batch {
            let id = getrandom::u64().map_err(|err| RecError::Registry(err.to_string()))?;
            let node = NamedNode::new_unchecked(format!(
                "{ID}experiments/{}/exposure/{id:016x}",
                spec.name
            ));
            let user = NamedNode::new(&e.user)
                .map_err(|err| RecError::BadData(format!("<{}>: {err}", e.user)))?;
            quads.push(Quad::new(
                node.clone(),
                rdf_type(),
                kgr("Exposure"),
                g.clone(),
            ));
            quads.push(Quad::new(
                node.clone(),
                kgr("experiment"),
                Literal::new_simple_literal(&spec.name),
                g.clone(),
            ));
            quads.push(Quad::new(
                node.clone(),
                kgr("arm"),
                Literal::new_simple_literal(&e.arm),
                g.clone(),
            ));
            quads.push(Quad::new(node.clone(), kgr("exposedTo"), user, g.clone()));
            quads.push(Quad::new(
                node.clone(),
                kgr("exposedAt"),
                Literal::new_typed_literal(unix_to_datetime(e.time), xsd::DATE_TIME),
                g.clone(),
            ));
            for item in &e.shown {
                if let Ok(item) = NamedNode::new(item) {
                    quads.push(Quad::new(node.clone(), kgr("shown"), item, g.clone()));
                }
            }
        }
        if let Err(e) = store.insert_quads(&quads) {
            let mut pending = self
                .pending
                .lock()
                .map_err(|_| RecError::Poisoned("the exposure log"))?;
            let later = std::mem::replace(&mut *pending, batch);
            pending.extend(later);
            return Err(e.into());
        }
        Ok(batch.len())
    }
}

/// A share of users with its Wilson 95% interval.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Rate {
    /// Users who did it (clicked, or bought).
    pub users: u64,
    /// The share.
    pub rate: f64,
    /// Lower end of the 95% interval.
    pub low: f64,
    /// Upper end of the 95% interval.
    pub high: f64,
}

/// A difference of two shares with Newcombe's 95% interval.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Difference {
    /// This arm's share minus the first arm's.
    pub difference: f64,
    /// Lower end of the 95% interval.
    pub low: f64,
    /// Upper end of the 95% interval.
    pub high: f64,
}

const Z95: f64 = 1.959_963_984_540_054;

/// The Wilson score interval of `k` successes in `n` trials.
pub fn wilson(k: u64, n: u64) -> Rate {
    if n == 0 {
        return Rate {
            users: 0,
            rate: 0.0,
            low: 0.0,
            high: 1.0,
        };
    }
    let (k, nf) = (k as f64, n as f64);
    let p = k / nf;
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * nf)) / (1.0 + z2 / nf);
    let half = Z95 * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt() / (1.0 + z2 / nf);
    Rate {
        users: k as u64,
        rate: p,
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    }
}

/// Newcombe's hybrid score interval (his method 10) for `b.rate - a.rate`, from the two
/// Wilson intervals.
pub fn newcombe(a: &Rate, b: &Rate) -> Difference {
    let d = b.rate - a.rate;
    Difference {
        difference: d,
        low: d - ((b.rate - b.low).powi(2) + (a.high - a.rate).powi(2)).sqrt(),
        high: d + ((b.high - b.rate).powi(2) + (a.rate - a.low).powi(2)).sqrt(),
    }
}

/// One arm's figures.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ArmReport {
    /// The arm as configured.
    #[serde(flatten)]
    pub arm: ArmSpec,
    /// Users exposed.
    pub users: u64,
    /// Answers served to them.
    pub exposures: u64,
    /// Clicks within the window after each user's first exposure.
    pub clicks: u64,
    /// Purchases within that window.
    pub purchases: u64,
    /// Share of exposed users who clicked.
    pub click_rate: Rate,
    /// Share of exposed users who bought.
    pub purchase_rate: Rate,
    /// Against the first arm (absent for the first arm itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub click_rate_difference: Option<Difference>,
    /// Against the first arm (absent for the first arm itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purchase_rate_difference: Option<Difference>,
}

/// The report of `GET /v1/experiments/{name}`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ExperimentReport {
    /// The experiment's name.
    pub experiment: String,
    /// How long after a user's first exposure their clicks and purchases count, in seconds.
    pub window_seconds: i64,
    /// Per arm, the first being the baseline.
    pub arms: Vec<ArmReport>,
}

/// What one exposed user did.
#[derive(Default)]
struct UserOutcome {
    first: i64,
    exposures: u64,
    clicks: u64,
    purchases: u64,
}

/// Reads the exposures and the events that followed them from the store and sums them up
/// per arm.
pub fn report(
    store: &KgStore,
    spec: &ExperimentSpec,
    window_seconds: i64,
) -> Result<ExperimentReport, RecError> {
    let prefixes = crate::kg::vocab::SPARQL_PREFIXES;
    let exposures = format!(
        "{prefixes}SELECT ?arm ?user (MIN(?t) AS ?first) (COUNT(?x) AS ?n) WHERE {{ GRAPH <{g}> {{ \
         ?x a kgr:Exposure ; kgr:arm ?arm ; kgr:exposedTo ?user ; kgr:exposedAt ?t }} }} GROUP BY ?arm ?user",
        g = spec.graph().as_str()
    );
    let mut users: HashMap<String, (String, UserOutcome)> = HashMap::new();
    let mut earliest = i64::MAX;
    store.for_each_solution(&exposures, |row| {
        let text = |t: &Option<Term>| match t {
            Some(Term::Literal(l)) => Some(l.value().to_owned()),
            Some(Term::NamedNode(n)) => Some(n.as_str().to_owned()),
            _ => None,
        };
        if let (Some(arm), Some(user), Some(first), Some(n)) = (
            text(&row[0]),
            text(&row[1]),
            text(&row[2]).and_then(|t| unix_seconds(&t)),
            text(&row[3]).and_then(|n| n.parse::<u64>().ok()),
        ) {
            earliest = earliest.min(first);
            users.insert(
                user,
                (
                    arm,
                    UserOutcome {
                        first,
                        exposures: n,
                        ..Default::default()
                    },
                ),
            );
        }
    })?;
    if !users.is_empty() {
        let (click, purchase) = (
            InteractionKind::Click.iri(),
            InteractionKind::Purchase.iri(),
        );
        let events = format!(
            "{prefixes}SELECT ?user ?kind ?t WHERE {{ GRAPH <{g}> {{ ?e a kgr:Interaction ; \
             kgr:user ?user ; kgr:kind ?kind ; kgr:timestamp ?t }} \
             FILTER(?kind IN (<{click}>, <{purchase}>) && ?t >= {since}) }}",
            g = graph(super::events::EVENTS_SOURCE, GraphPart::Interactions).as_str(),
            click = click.as_str(),
            purchase = purchase.as_str(),
            since = Literal::new_typed_literal(unix_to_datetime(earliest), xsd::DATE_TIME),
        );
        store.for_each_solution(&events, |row| {
            let (Some(Term::NamedNode(u)), Some(Term::NamedNode(kind)), Some(Term::Literal(t))) =
                (&row[0], &row[1], &row[2])
            else {
                return;
            };
            let (Some((_, outcome)), Some(t)) =
                (users.get_mut(u.as_str()), unix_seconds(t.value()))
            else {
                return;
            };
            if t < outcome.first || t > outcome.first + window_seconds {
                return;
            }
            if *kind == click {
                outcome.clicks += 1;
            } else if *kind == purchase {
                outcome.purchases += 1;
            }
        })?;
    }
    let mut by_arm: BTreeMap<&str, Vec<&UserOutcome>> = BTreeMap::new();
    for (arm, outcome) in users.values() {
        by_arm.entry(arm.as_str()).or_default().push(outcome);
    }
    let mut arms: Vec<ArmReport> = spec
        .arms
        .iter()
        .map(|arm| {
            let outcomes = by_arm.get(arm.name.as_str()).cloned().unwrap_or_default();
            let n = outcomes.len() as u64;
            let sum = |f: fn(&UserOutcome) -> u64| outcomes.iter().map(|o| f(o)).sum::<u64>();
            let clicked = outcomes.iter().filter(|o| o.clicks > 0).count() as u64;
            let bought = outcomes.iter().filter(|o| o.purchases > 0).count() as u64;
            ArmReport {
                arm: arm.clone(),
                users: n,
                exposures: sum(|o| o.exposures),
                clicks: sum(|o| o.clicks),
                purchases: sum(|o| o.purchases),
                click_rate: wilson(clicked, n),
                purchase_rate: wilson(bought, n),
                click_rate_difference: None,
                purchase_rate_difference: None,
            }
        })
        .collect();
    let (base_click, base_purchase) = (arms[0].click_rate.clone(), arms[0].purchase_rate.clone());
    for arm in arms.iter_mut().skip(1) {
        arm.click_rate_difference = Some(newcombe(&base_click, &arm.click_rate));
        arm.purchase_rate_difference = Some(newcombe(&base_purchase, &arm.purchase_rate));
    }
    Ok(ExperimentReport {
        experiment: spec.name.clone(),
        window_seconds,
        arms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_read_or_refused_with_the_reason() {
        let spec = ExperimentSpec::parse("ranker-2026: v3 50%, v4 50%").unwrap();
        assert_eq!(spec.name, "ranker-2026");
        assert_eq!(
            spec.arms
                .iter()
                .map(|a| (a.version, a.percent))
                .collect::<Vec<_>>(),
            [(3, 50.0), (4, 50.0)]
        );
        assert_eq!(
            ExperimentSpec::parse("t: v1 10%, v2 30%, v3 60%")
                .unwrap()
                .arms
                .len(),
            3
        );
        for (text, reason) in [
            ("v3 50%, v4 50%", "no `:`"),
            ("a b: v3 50%, v4 50%", "must be letters"),
            ("t: v3 50%", "at least two arms"),
            ("t: v3 50%, v4 40%", "add up to 90%"),
            ("t: v3 50%, v3 50%", "named twice"),
            ("t: three 50%, v4 50%", "not a version"),
            ("t: v3 half, v4 50%", "not a positive share"),
            ("t: v3 50% x, v4 50%", "is not `vN P%`"),
        ] {
            let e = ExperimentSpec::parse(text).unwrap_err().to_string();
            assert!(e.contains(reason), "{text}: {e}");
        }
    }

    #[test]
    fn a_flush_that_finds_nothing_waits_for_the_batch_in_flight() {
        // The report flushes before it reads; the follow thread may have taken the batch
        // already and be writing it. The report must still see every exposure.
        let store = KgStore::in_memory().unwrap();
        let spec = ExperimentSpec::parse("t: v1 50%, v2 50%").unwrap();
        let log = ExposureLog::default();
        const N: usize = 3000;
        for i in 0..N {
            log.push(Exposure {
                arm: "v1".into(),
                user: format!("urn:u{i}"),
                time: 1_700_000_000,
                shown: (0..10).map(|j| format!("urn:p{j}")).collect(),
            })
            .unwrap();
        }
        std::thread::scope(|scope| {
            scope.spawn(|| assert_eq!(log.flush(&store, &spec).unwrap(), N));
            // Wait until the other thread has taken the batch, then flush and read.
            while !log.pending.lock().unwrap().is_empty() {
                std::thread::yield_now();
            }
            assert_eq!(log.flush(&store, &spec).unwrap(), 0);
            let seen = report(&store, &spec, 3600).unwrap().arms[0].exposures;
            assert_eq!(seen, N as u64, "the report ran before the batch was stored");
        });
    }

    #[test]
    fn users_split_deterministically_in_the_configured_shares() {
        let spec = ExperimentSpec::parse("t: v1 30%, v2 70%").unwrap();
        let users: Vec<String> = (0..20_000).map(|i| format!("urn:u{i}")).collect();
        let first = users.iter().filter(|u| spec.arm_of(u) == 0).count() as f64;
        // 30% of 20,000 with a binomial standard deviation of about 65.
        assert!((first - 6000.0).abs() < 400.0, "{first}");
        assert!(users.iter().all(|u| spec.arm_of(u) == spec.arm_of(u)));
        // Another experiment's name reshuffles the users.
        let other = ExperimentSpec::parse("u: v1 30%, v2 70%").unwrap();
        let same = users
            .iter()
            .filter(|u| spec.arm_of(u) == other.arm_of(u))
            .count() as f64;
        assert!((same - 0.58 * 20_000.0).abs() < 500.0, "{same}");
    }

    #[test]
    fn intervals_match_published_values() {
        // Newcombe (1998), table I and II: 81/263 → Wilson 0.2553 to 0.3662; 56/70 vs 48/80:
        // difference 0.2000, hybrid score interval 0.0524 to 0.3339.
        let r = wilson(81, 263);
        assert!(
            (r.low - 0.2553).abs() < 1e-4 && (r.high - 0.3662).abs() < 1e-4,
            "{r:?}"
        );
        let d = newcombe(&wilson(48, 80), &wilson(56, 70));
        assert!((d.difference - 0.2).abs() < 1e-12);
        assert!(
            (d.low - 0.0524).abs() < 1e-4 && (d.high - 0.3339).abs() < 1e-4,
            "{d:?}"
        );
        assert_eq!(wilson(0, 0).high, 1.0);
    }
}
