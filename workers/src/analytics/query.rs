//! Queries over `events`, computed in SQL: trends, funnels, retention, top properties, and
//! the creator dashboard. All are per organisation (viewers may read), optionally per project.
//!
//! Actors are people: an event's actor id is resolved through `person_aliases`, so the
//! anonymous and identified ids of one person count once. Buckets are UTC days, hours, or weeks
//! starting on Monday.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use worker::{Request, Response};

use crate::db::Arg;
use crate::http::{self, AppError, AppResult, Ctx};
use crate::identity::{authorize, Permission};
use crate::util;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;
/// 1970-01-05 was a Monday: weeks are aligned on it.
const MONDAY_OFFSET: i64 = 4 * DAY;
/// Most buckets a trend may have.
pub const MAX_BUCKETS: i64 = 24 * 93;
/// Most steps of a funnel.
pub const MAX_FUNNEL_STEPS: usize = 10;
/// Most periods of a retention table.
pub const MAX_PERIODS: i64 = 52;

/// The person an event belongs to.
const ACTOR: &str = "COALESCE(pa.person_id, e.actor_id)";
/// Events joined with the aliases of their actors.
const FROM: &str =
    "events e LEFT JOIN person_aliases pa ON pa.org_id = e.org_id AND pa.distinct_id = e.actor_id";

/// The project an event concerns, wherever its module put it.
fn project_condition(param: usize) -> String {
    format!(
        "(?{param} IS NULL OR COALESCE(json_extract(e.properties, '$.project_id'), json_extract(e.properties, '$.details.project_id'),
          CASE WHEN json_extract(e.properties, '$.target_type') = 'project' THEN json_extract(e.properties, '$.target_id') END) = ?{param})"
    )
}

/// Parses an RFC 3339 instant or milliseconds since the epoch.
pub fn parse_instant(raw: &str, what: &str) -> AppResult<i64> {
    raw.parse::<i64>()
        .ok()
        .or_else(|| super::capture::parse_rfc3339(raw))
        .ok_or_else(|| {
            AppError::invalid(
                "invalid_time",
                format!("{what} must be RFC 3339 or milliseconds since the epoch"),
            )
        })
}

/// A bucket size and its alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// Length, ms.
    pub ms: i64,
    /// Alignment offset, ms.
    pub offset: i64,
    /// `hour`, `day` or `week`.
    pub name: &'static str,
}

impl Interval {
    /// Parses `hour`, `day` or `week`.
    pub fn parse(raw: &str) -> Option<Interval> {
        match raw {
            "hour" => Some(Interval {
                ms: HOUR,
                offset: 0,
                name: "hour",
            }),
            "day" => Some(Interval {
                ms: DAY,
                offset: 0,
                name: "day",
            }),
            "week" => Some(Interval {
                ms: WEEK,
                offset: MONDAY_OFFSET,
                name: "week",
            }),
            _ => None,
        }
    }

    /// The start of the bucket holding `at`.
    pub fn floor(self, at: i64) -> i64 {
        (at - self.offset).div_euclid(self.ms) * self.ms + self.offset
    }

    /// SQL for the bucket of the column `column` (constants only: nothing from the client).
    fn sql(self, column: &str) -> String {
        format!(
            "((({column}) - {offset}) / {ms}) * {ms} + {offset}",
            offset = self.offset,
            ms = self.ms
        )
    }
}

struct Common {
    org_id: String,
    from: i64,
    to: i64,
    project_id: Option<String>,
}

async fn common(ctx: &mut Ctx, default_span: i64) -> AppResult<Common> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Read).await?;
    let to = match ctx.query("to") {
        Some(raw) => parse_instant(&raw, "to")?,
        None => ctx.now,
    };
    let from = match ctx.query("from") {
        Some(raw) => parse_instant(&raw, "from")?,
        None => to - default_span,
    };
    if from >= to {
        return Err(AppError::invalid("invalid_range", "from must be before to"));
    }
    let project_id = ctx.query("project_id").filter(|p| !p.is_empty());
    Ok(Common {
        org_id,
        from,
        to,
        project_id,
    })
}

fn required(ctx: &Ctx, name: &str) -> AppResult<String> {
    ctx.query(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty() && v.len() <= 200)
        .ok_or_else(|| {
            AppError::invalid(
                "missing_parameter",
                format!("{name} is required (1 to 200 characters)"),
            )
        })
}

/// A JSON path for a property name: letters, digits and `_ $ - .` only.
pub fn property_path(name: &str) -> AppResult<String> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_$-. ".contains(c));
    if !ok {
        return Err(AppError::invalid(
            "invalid_property",
            "property names are 1 to 200 letters, digits, spaces or _ $ - .",
        ));
    }
    Ok(format!("$.\"{name}\""))
}

fn number(value: &serde_json::Value) -> i64 {
    value
        .as_i64()
        .or_else(|| value.as_f64().map(|f| f as i64))
        .unwrap_or(0)
}

fn label(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

// ---------------------------------------------------------------- trends

/// One line of a trend.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Series {
    /// The breakdown property's value (null: no breakdown, or the property is absent).
    pub breakdown: Option<String>,
    /// One value per bucket.
    pub values: Vec<i64>,
    /// Sum of the values.
    pub total: i64,
}

/// `GET …/analytics/trends`
#[derive(Debug, Serialize, JsonSchema)]
pub struct TrendResponse {
    /// Event name.
    pub event: String,
    /// `count` or `unique` (distinct people).
    pub measure: String,
    /// `hour`, `day` or `week`.
    pub interval: String,
    /// Bucket starts, RFC 3339.
    pub buckets: Vec<String>,
    /// Lines, largest total first.
    pub series: Vec<Series>,
}

/// What a trend counts.
pub struct TrendQuery<'a> {
    /// Event name.
    pub event: &'a str,
    /// Distinct people rather than events.
    pub unique: bool,
    /// Bucket size.
    pub interval: Interval,
    /// `[from, to)`, ms.
    pub range: (i64, i64),
    /// Property to break down by.
    pub breakdown: Option<&'a str>,
    /// Only events of this project.
    pub project_id: Option<&'a str>,
}

/// A trend computed in SQL: buckets × breakdown values.
pub async fn trend(ctx: &Ctx, org_id: &str, query: TrendQuery<'_>) -> AppResult<TrendResponse> {
    let TrendQuery {
        event,
        unique,
        interval,
        range,
        breakdown,
        project_id,
    } = query;
    let (from, to) = range;
    let first = interval.floor(from);
    let count = (to - 1 - first).div_euclid(interval.ms) + 1;
    if count > MAX_BUCKETS {
        return Err(AppError::invalid(
            "range_too_large",
            format!("at most {MAX_BUCKETS} buckets; use a wider interval or a shorter range"),
        ));
    }
    let breakdown_sql = match breakdown {
        Some(_) => "json_extract(e.properties, ?6)",
        None => "NULL",
    };
    let measure = if unique {
        format!("COUNT(DISTINCT {ACTOR})")
    } else {
        "COUNT(*)".to_string()
    };
    let sql = format!(
        "SELECT {bucket} AS bucket, {breakdown_sql} AS breakdown, {measure} AS value
         FROM {FROM}
         WHERE e.org_id = ?1 AND e.name = ?2 AND e.at >= ?3 AND e.at < ?4 AND {project}
         GROUP BY bucket, breakdown",
        bucket = interval.sql("e.at"),
        project = project_condition(5),
    );
    let mut args: Vec<Arg> = crate::args![org_id, event, from, to, project_id];
    if let Some(name) = breakdown {
        args.push(property_path(name)?.into());
    }
    let rows: Vec<serde_json::Value> = ctx.db()?.all(&sql, args).await?;
    let mut series: Vec<Series> = Vec::new();
    for row in rows {
        let key = label(&row["breakdown"]);
        let index = ((number(&row["bucket"]) - first) / interval.ms) as usize;
        let position = match series.iter().position(|s| s.breakdown == key) {
            Some(position) => position,
            None => {
                series.push(Series {
                    breakdown: key,
                    values: vec![0; count as usize],
                    total: 0,
                });
                series.len() - 1
            }
        };
        if let Some(slot) = series[position].values.get_mut(index) {
            let value = number(&row["value"]);
            *slot += value;
            series[position].total += value;
        }
    }
    if series.is_empty() {
        series.push(Series {
            breakdown: None,
            values: vec![0; count as usize],
            total: 0,
        });
    }
    series.sort_by(|a, b| b.total.cmp(&a.total).then(a.breakdown.cmp(&b.breakdown)));
    series.truncate(50);
    Ok(TrendResponse {
        event: event.to_string(),
        measure: if unique { "unique" } else { "count" }.to_string(),
        interval: interval.name.to_string(),
        buckets: (0..count)
            .map(|i| util::rfc3339(first + i * interval.ms))
            .collect(),
        series,
    })
}

/// `GET /v1/orgs/{org_id}/analytics/trends?event=&measure=&interval=&from=&to=&breakdown=&project_id=`
pub async fn trends(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let common = common(ctx, 7 * DAY).await?;
    let event = required(ctx, "event")?;
    let unique = match ctx.query("measure").as_deref() {
        None | Some("count") => false,
        Some("unique") => true,
        Some(_) => {
            return Err(AppError::invalid(
                "invalid_measure",
                "measure is count or unique",
            ))
        }
    };
    let interval = Interval::parse(ctx.query("interval").as_deref().unwrap_or("day"))
        .ok_or_else(|| AppError::invalid("invalid_interval", "interval is hour, day or week"))?;
    let breakdown = ctx.query("breakdown").filter(|b| !b.is_empty());
    let answer = trend(
        ctx,
        &common.org_id,
        TrendQuery {
            event: &event,
            unique,
            interval,
            range: (common.from, common.to),
            breakdown: breakdown.as_deref(),
            project_id: common.project_id.as_deref(),
        },
    )
    .await?;
    http::json(200, &answer)
}

// ---------------------------------------------------------------- funnels

/// One step of a funnel.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FunnelStep {
    /// Event name.
    pub event: String,
    /// People who reached this step in order, within the window.
    pub count: i64,
    /// Share of the first step's people, 0 to 1.
    pub conversion: f64,
    /// Mean time from the previous step, seconds (null for the first step or nobody).
    pub avg_seconds_from_previous: Option<f64>,
}

/// `GET …/analytics/funnel`
#[derive(Debug, Serialize, JsonSchema)]
pub struct FunnelResponse {
    /// Seconds from a person's first step to their last.
    pub window_seconds: i64,
    /// The steps in order.
    pub steps: Vec<FunnelStep>,
}

/// `GET /v1/orgs/{org_id}/analytics/funnel?steps=a,b,c&window_seconds=&from=&to=&project_id=`:
/// per person, the first `a` in the range, then the first `b` after it, … each within
/// `window_seconds` of that first `a`.
pub async fn funnel(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let common = common(ctx, 30 * DAY).await?;
    let steps: Vec<String> = ctx
        .query("steps")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    if steps.len() < 2
        || steps.len() > MAX_FUNNEL_STEPS
        || steps.iter().any(|s| s.is_empty() || s.len() > 200)
    {
        return Err(AppError::invalid(
            "invalid_steps",
            format!("steps is 2 to {MAX_FUNNEL_STEPS} comma-separated event names"),
        ));
    }
    let window_seconds = match ctx.query("window_seconds") {
        None => 7 * 86_400,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|w| (1..=90 * 86_400).contains(w))
            .ok_or_else(|| AppError::invalid("invalid_window", "window_seconds is 1 to 7776000"))?,
    };
    let window = window_seconds * 1000;
    // ?1 org, ?2 from, ?3 to, ?4 project, ?5… the step names.
    let names: Vec<String> = (0..steps.len()).map(|i| format!("?{}", i + 5)).collect();
    let mut sql = format!(
        "WITH ev AS (SELECT {ACTOR} AS actor, e.name AS name, e.at AS at FROM {FROM}
           WHERE e.org_id = ?1 AND e.actor_id IS NOT NULL AND e.at >= ?2 AND e.at < ?3 + {window}
             AND e.name IN ({list}) AND {project}),
         s0 AS (SELECT actor, MIN(at) AS t0, MIN(at) AS t, NULL AS dt FROM ev WHERE name = ?5 AND at < ?3 GROUP BY actor)",
        list = names.join(", "),
        project = project_condition(4),
    );
    for k in 1..steps.len() {
        // A repeated step must be a later event; a different one may share the millisecond.
        let after = if steps[k] == steps[k - 1] { ">" } else { ">=" };
        sql.push_str(&format!(
            ", s{k} AS (SELECT s.actor AS actor, s.t0 AS t0, MIN(ev.at) AS t, MIN(ev.at) - s.t AS dt
               FROM s{prev} s JOIN ev ON ev.actor = s.actor AND ev.name = ?{param} AND ev.at {after} s.t AND ev.at <= s.t0 + {window}
               GROUP BY s.actor, s.t0, s.t)",
            prev = k - 1,
            param = k + 5,
        ));
    }
    let selects: Vec<String> = (0..steps.len())
        .map(|k| format!("SELECT {k} AS step, COUNT(*) AS count, AVG(dt) AS avg_dt FROM s{k}"))
        .collect();
    sql.push_str(&format!(" {}", selects.join(" UNION ALL ")));
    let mut args: Vec<Arg> = crate::args![
        common.org_id.as_str(),
        common.from,
        common.to,
        common.project_id.clone()
    ];
    args.extend(steps.iter().map(|s| Arg::from(s.as_str())));
    let rows: Vec<serde_json::Value> = ctx.db()?.all(&sql, args).await?;
    let mut counts = vec![(0i64, None); steps.len()];
    for row in rows {
        let step = number(&row["step"]) as usize;
        if let Some(slot) = counts.get_mut(step) {
            *slot = (number(&row["count"]), row["avg_dt"].as_f64());
        }
    }
    let first = counts[0].0;
    let steps = steps
        .into_iter()
        .zip(counts)
        .enumerate()
        .map(|(k, (event, (count, avg)))| FunnelStep {
            event,
            count,
            conversion: if first > 0 {
                count as f64 / first as f64
            } else {
                0.0
            },
            avg_seconds_from_previous: if k == 0 || count == 0 {
                None
            } else {
                avg.map(|ms| ms / 1000.0)
            },
        })
        .collect();
    http::json(
        200,
        &FunnelResponse {
            window_seconds,
            steps,
        },
    )
}

// ---------------------------------------------------------------- retention

/// One cohort of a retention table.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Cohort {
    /// Start of the cohort's period, RFC 3339.
    pub cohort: String,
    /// People whose first start event fell in it.
    pub size: i64,
    /// `values[0]` = size; `values[n]` = of them, people with a return event in period n.
    pub values: Vec<i64>,
}

/// `GET …/analytics/retention`
#[derive(Debug, Serialize, JsonSchema)]
pub struct RetentionResponse {
    /// `day` or `week`.
    pub period: String,
    /// Periods after the cohort's.
    pub periods: i64,
    /// Cohorts, oldest first.
    pub cohorts: Vec<Cohort>,
}

/// `GET /v1/orgs/{org_id}/analytics/retention?start_event=&return_event=&period=&periods=&from=&to=&project_id=`:
/// people are grouped by the period of their first-ever `start_event` (cohorts starting in
/// `[from, to)`), then counted in each later period in which they did `return_event`.
pub async fn retention(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let common = common(ctx, 14 * DAY).await?;
    let start_event = required(ctx, "start_event")?;
    let return_event = ctx
        .query("return_event")
        .filter(|r| !r.is_empty() && r.len() <= 200)
        .unwrap_or_else(|| start_event.clone());
    let period = match ctx.query("period").as_deref().unwrap_or("day") {
        "day" => Interval::parse("day"),
        "week" => Interval::parse("week"),
        _ => None,
    }
    .ok_or_else(|| AppError::invalid("invalid_period", "period is day or week"))?;
    let periods = match ctx.query("periods") {
        None => 7,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_PERIODS).contains(n))
            .ok_or_else(|| {
                AppError::invalid("invalid_periods", format!("periods is 1 to {MAX_PERIODS}"))
            })?,
    };
    if (common.to - common.from) / period.ms > MAX_PERIODS * 2 {
        return Err(AppError::invalid(
            "range_too_large",
            "too many cohorts; shorten the range",
        ));
    }
    let horizon = (periods + 1) * period.ms;
    let sql = format!(
        "WITH first AS (SELECT {ACTOR} AS actor, MIN(e.at) AS t FROM {FROM}
            WHERE e.org_id = ?1 AND e.name = ?4 AND e.actor_id IS NOT NULL AND {project}
            GROUP BY actor HAVING MIN(e.at) >= ?2 AND MIN(e.at) < ?3),
          cohort AS (SELECT actor, {bucket_first} AS c FROM first),
          ev AS (SELECT {ACTOR} AS actor, e.at AS at FROM {FROM}
            WHERE e.org_id = ?1 AND e.name = ?5 AND e.at >= ?2 AND e.at < ?3 + {horizon} AND {project}),
          ret AS (SELECT DISTINCT cohort.actor AS actor, cohort.c AS c, ({bucket_ev} - cohort.c) / {ms} AS n
            FROM cohort JOIN ev ON ev.actor = cohort.actor AND ev.at >= cohort.c)
         SELECT c, 0 AS n, COUNT(*) AS count FROM cohort GROUP BY c
         UNION ALL SELECT c, n, COUNT(*) AS count FROM ret WHERE n >= 1 AND n <= {periods} GROUP BY c, n",
        project = project_condition(6),
        bucket_first = period.sql("t"),
        bucket_ev = period.sql("ev.at"),
        ms = period.ms,
    );
    let rows: Vec<serde_json::Value> = ctx
        .db()?
        .all(
            &sql,
            crate::args![
                common.org_id.as_str(),
                common.from,
                common.to,
                start_event.as_str(),
                return_event.as_str(),
                common.project_id.clone()
            ],
        )
        .await?;
    let mut cohorts: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
    for row in rows {
        let c = number(&row["c"]);
        let n = number(&row["n"]) as usize;
        let values = cohorts
            .entry(c)
            .or_insert_with(|| vec![0; periods as usize + 1]);
        if let Some(slot) = values.get_mut(n) {
            *slot = number(&row["count"]);
        }
    }
    let cohorts = cohorts
        .into_iter()
        .map(|(c, values)| Cohort {
            cohort: util::rfc3339(c),
            size: values[0],
            values,
        })
        .collect();
    http::json(
        200,
        &RetentionResponse {
            period: period.name.to_string(),
            periods,
            cohorts,
        },
    )
}

// ---------------------------------------------------------------- top properties

/// A property name or value with how often it occurs.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PropertyCount {
    /// The property name (without `property`) or value (with it).
    pub value: Option<String>,
    /// Events carrying it.
    pub count: i64,
}

/// `GET …/analytics/properties`
#[derive(Debug, Serialize, JsonSchema)]
pub struct PropertiesResponse {
    /// The property whose values are counted, or null for property names.
    pub property: Option<String>,
    /// Most frequent first.
    pub items: Vec<PropertyCount>,
}

/// `GET /v1/orgs/{org_id}/analytics/properties?event=&property=&from=&to=&limit=&project_id=`:
/// the most frequent property names of an event, or the most frequent values of one property.
pub async fn top_properties(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let common = common(ctx, 30 * DAY).await?;
    let event = ctx.query("event").filter(|e| !e.is_empty());
    let property = ctx.query("property").filter(|p| !p.is_empty());
    let limit = ctx.query_limit(20, 100)?;
    let (select, from, group) = match &property {
        Some(_) => (
            "json_extract(e.properties, ?7) AS value",
            FROM.to_string(),
            "value",
        ),
        None => (
            "j.key AS value",
            format!("{FROM}, json_each(e.properties) j"),
            "j.key",
        ),
    };
    let sql = format!(
        "SELECT {select}, COUNT(*) AS count FROM {from}
         WHERE e.org_id = ?1 AND e.at >= ?2 AND e.at < ?3 AND (?4 IS NULL OR e.name = ?4) AND {project}
         GROUP BY {group} ORDER BY count DESC, value LIMIT ?6",
        project = project_condition(5),
    );
    let mut args: Vec<Arg> = crate::args![
        common.org_id.as_str(),
        common.from,
        common.to,
        event,
        common.project_id.clone(),
        limit
    ];
    if let Some(name) = &property {
        args.push(property_path(name)?.into());
    }
    let rows: Vec<serde_json::Value> = ctx.db()?.all(&sql, args).await?;
    let items = rows
        .iter()
        .map(|row| PropertyCount {
            value: label(&row["value"]),
            count: number(&row["count"]),
        })
        .collect();
    http::json(200, &PropertiesResponse { property, items })
}

// ---------------------------------------------------------------- dashboard

/// A daily figure.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DailySeries {
    /// One value per day of the dashboard.
    pub values: Vec<i64>,
    /// Sum.
    pub total: i64,
}

/// A product among the best sellers.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct TopProduct {
    /// `prd_…`
    pub product_id: String,
    /// Title at the time of sale.
    pub title: String,
    /// Units sold.
    pub units: i64,
    /// Revenue, minor units of `currency`.
    pub revenue: i64,
    /// ISO currency.
    pub currency: String,
}

/// Revenue in one currency.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct CurrencyTotal {
    /// ISO currency.
    pub currency: String,
    /// Minor units, net of refunds.
    pub total: i64,
    /// Orders.
    pub orders: i64,
}

/// `GET …/analytics/dashboard`: what a creator reads at a glance.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Dashboard {
    /// Days covered, RFC 3339 (UTC midnight), oldest first.
    pub days: Vec<String>,
    /// Page and product views (`$pageview` and `product.view` events).
    pub views: DailySeries,
    /// Distinct viewers over the whole period.
    pub unique_viewers: i64,
    /// Renders requested.
    pub renders: DailySeries,
    /// Paid orders.
    pub sales: DailySeries,
    /// Revenue per day in `currency` (minor units, net of refunds).
    pub revenue: DailySeries,
    /// The main currency (most orders), if any sale.
    pub currency: Option<String>,
    /// Revenue per currency.
    pub revenue_by_currency: Vec<CurrencyTotal>,
    /// Best-selling products by revenue.
    pub top_products: Vec<TopProduct>,
    /// Most frequent events of the period.
    pub top_events: Vec<PropertyCount>,
}

/// `GET /v1/orgs/{org_id}/analytics/dashboard?days=&project_id=`
pub async fn dashboard(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Read).await?;
    let days = match ctx.query("days") {
        None => 30,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|d| (1..=366).contains(d))
            .ok_or_else(|| AppError::invalid("invalid_days", "days is 1 to 366"))?,
    };
    let project_id = ctx.query("project_id").filter(|p| !p.is_empty());
    let first = (ctx.now.div_euclid(DAY) - days + 1) * DAY;
    let end = (ctx.now.div_euclid(DAY) + 1) * DAY;
    let db = ctx.db()?;
    let day = Interval::parse("day").ok_or_else(|| AppError::internal("interval"))?;
    let daily = |rows: Vec<serde_json::Value>| {
        let mut values = vec![0i64; days as usize];
        for row in rows {
            let index = (number(&row["bucket"]) - first) / DAY;
            if let Some(slot) = values.get_mut(index as usize) {
                *slot += number(&row["value"]);
            }
        }
        let total = values.iter().sum();
        DailySeries { values, total }
    };
    let events_by_day = |condition: &str| {
        format!(
            "SELECT {bucket} AS bucket, COUNT(*) AS value FROM {FROM}
             WHERE e.org_id = ?1 AND e.at >= ?2 AND e.at < ?3 AND {project} AND {condition} GROUP BY bucket",
            bucket = day.sql("e.at"),
            project = project_condition(4),
        )
    };
    let args = || crate::args![org_id.as_str(), first, end, project_id.clone()];
    let views = daily(
        db.all(
            &events_by_day("e.name IN ('$pageview', 'product.view')"),
            args(),
        )
        .await?,
    );
    let renders = daily(
        db.all(
            &events_by_day(
                "e.name = 'job.create' AND json_extract(e.properties, '$.details.render') IS NOT NULL",
            ),
            args(),
        )
        .await?,
    );
    let unique: Option<serde_json::Value> = db
        .first(
            &format!(
                "SELECT COUNT(DISTINCT {ACTOR}) AS value FROM {FROM}
                 WHERE e.org_id = ?1 AND e.at >= ?2 AND e.at < ?3 AND {project} AND e.name IN ('$pageview', 'product.view')",
                project = project_condition(4)
            ),
            args(),
        )
        .await?;
    let top_events: Vec<serde_json::Value> = db
        .all(
            &format!(
                "SELECT e.name AS value, COUNT(*) AS count FROM {FROM}
                 WHERE e.org_id = ?1 AND e.at >= ?2 AND e.at < ?3 AND {project}
                 GROUP BY e.name ORDER BY count DESC, value LIMIT 10",
                project = project_condition(4)
            ),
            args(),
        )
        .await?;
    // Commerce: paid orders of this seller (none before the commerce module takes orders).
    const PAID: &str = "o.status IN ('paid', 'fulfilled', 'partially_refunded')";
    let revenue_by_currency: Vec<CurrencyTotal> = db
        .all(
            &format!(
                "SELECT o.currency AS currency, SUM(o.total - o.refunded_total) AS total, COUNT(*) AS orders
                 FROM orders o WHERE o.seller_org_id = ?1 AND {PAID} AND o.paid_at >= ?2 AND o.paid_at < ?3
                 GROUP BY o.currency ORDER BY orders DESC, currency"
            ),
            crate::args![org_id.as_str(), first, end],
        )
        .await?;
    let currency = revenue_by_currency.first().map(|c| c.currency.clone());
    let sales = daily(
        db.all(
            &format!(
                "SELECT {bucket} AS bucket, COUNT(*) AS value FROM orders o
                 WHERE o.seller_org_id = ?1 AND {PAID} AND o.paid_at >= ?2 AND o.paid_at < ?3 GROUP BY bucket",
                bucket = day.sql("o.paid_at")
            ),
            crate::args![org_id.as_str(), first, end],
        )
        .await?,
    );
    let revenue = daily(
        db.all(
            &format!(
                "SELECT {bucket} AS bucket, SUM(o.total - o.refunded_total) AS value FROM orders o
                 WHERE o.seller_org_id = ?1 AND {PAID} AND o.paid_at >= ?2 AND o.paid_at < ?3 AND o.currency = ?4 GROUP BY bucket",
                bucket = day.sql("o.paid_at")
            ),
            crate::args![org_id.as_str(), first, end, currency.clone()],
        )
        .await?,
    );
    let top_products: Vec<TopProduct> = db
        .all(
            &format!(
                "SELECT oi.product_id AS product_id, MAX(oi.title) AS title, SUM(oi.quantity) AS units,
                   SUM(oi.amount) AS revenue, o.currency AS currency
                 FROM order_items oi JOIN orders o ON o.id = oi.order_id
                 WHERE o.seller_org_id = ?1 AND {PAID} AND o.paid_at >= ?2 AND o.paid_at < ?3
                 GROUP BY oi.product_id, o.currency ORDER BY revenue DESC, units DESC LIMIT 5"
            ),
            crate::args![org_id.as_str(), first, end],
        )
        .await?;
    http::json(
        200,
        &Dashboard {
            days: (0..days).map(|i| util::rfc3339(first + i * DAY)).collect(),
            views,
            unique_viewers: unique.map(|u| number(&u["value"])).unwrap_or(0),
            renders,
            sales,
            revenue,
            currency,
            revenue_by_currency,
            top_products,
            top_events: top_events
                .iter()
                .map(|row| PropertyCount {
                    value: label(&row["value"]),
                    count: number(&row["count"]),
                })
                .collect(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_align_on_utc_days_hours_and_mondays() {
        let day = Interval::parse("day").unwrap();
        let week = Interval::parse("week").unwrap();
        let hour = Interval::parse("hour").unwrap();
        // 2026-05-28T20:26:40Z (a Thursday).
        let at = 1_780_000_000_000;
        assert_eq!(util_rfc(day.floor(at)), "2026-05-28T00:00:00Z");
        assert_eq!(util_rfc(hour.floor(at)), "2026-05-28T20:00:00Z");
        assert_eq!(util_rfc(week.floor(at)), "2026-05-25T00:00:00Z");
        assert!(Interval::parse("month").is_none());
    }

    fn util_rfc(ms: i64) -> String {
        let at = time::OffsetDateTime::from_unix_timestamp(ms / 1000).unwrap();
        at.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    }

    #[test]
    fn property_paths_accept_only_plain_names() {
        assert_eq!(property_path("plan").unwrap(), "$.\"plan\"");
        assert_eq!(property_path("$browser").unwrap(), "$.\"$browser\"");
        assert!(property_path("a\"b").is_err());
        assert!(property_path("").is_err());
    }
}
