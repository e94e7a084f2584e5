//! The JSON of Prometheus's query API, read into [`Sample`]s and [`Series`]: no HTTP here, so
//! the tests hold the wire format itself.
//!
//! The envelope is `{"status": "success"|"error", "data": {"resultType": ..., "result": ...},
//! "errorType": ..., "error": ..., "warnings": [...]}`; a float sample is `[<unix seconds>,
//! "<value>"]`, its value a string because Prometheus writes `NaN`, `+Inf` and `-Inf` there.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::{QueryError, Sample, Series};

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(rename = "errorType", default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Value,
}

#[derive(Deserialize)]
struct InstantElement {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    value: Option<(f64, String)>,
    #[serde(default)]
    histogram: Option<Value>,
}

#[derive(Deserialize)]
struct RangeElement {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
    #[serde(default)]
    histograms: Vec<Value>,
}

/// The answer of `/api/v1/query`: a vector's samples, or a scalar as one sample without labels.
pub(crate) fn instant(status: u16, body: &str) -> Result<Vec<Sample>, QueryError> {
    let data = success(status, body)?;
    match data.result_type.as_str() {
        "vector" => {
            let elements: Vec<InstantElement> = from_value(data.result, "a vector's result")?;
            elements
                .into_iter()
                .map(|e| {
                    let Some((_, value)) = e.value else {
                        return Err(no_float(e.histogram.is_some(), &e.metric));
                    };
                    Ok(Sample { value: number(&value)?, labels: e.metric })
                })
                .collect()
        }
        "scalar" => {
            let (_, value): (f64, String) = from_value(data.result, "a scalar's result")?;
            Ok(vec![Sample { labels: BTreeMap::new(), value: number(&value)? }])
        }
        other => Err(QueryError::ResultType { got: other.to_owned(), expected: "a vector or a scalar" }),
    }
}

/// The answer of `/api/v1/query_range`: a matrix, one [`Series`] per label set.
pub(crate) fn range(status: u16, body: &str) -> Result<Vec<Series>, QueryError> {
    let data = success(status, body)?;
    if data.result_type != "matrix" {
        return Err(QueryError::ResultType { got: data.result_type, expected: "a matrix" });
    }
    let elements: Vec<RangeElement> = from_value(data.result, "a matrix's result")?;
    elements
        .into_iter()
        .map(|e| {
            if e.values.is_empty() && !e.histograms.is_empty() {
                return Err(no_float(true, &e.metric));
            }
            let points = e
                .values
                .iter()
                .map(|(at, value)| Ok((time(*at)?, number(value)?)))
                .collect::<Result<Vec<_>, QueryError>>()?;
            Ok(Series { labels: e.metric, points })
        })
        .collect()
}

/// The `data` of a successful answer, or the error Prometheus gave (its JSON error body comes
/// with 400, 422 and 503), or, for any other body, the status and the start of what came back.
fn success(status: u16, body: &str) -> Result<Data, QueryError> {
    let envelope: Envelope = match serde_json::from_str(body) {
        Ok(envelope) => envelope,
        Err(e) if (200..300).contains(&status) => {
            return Err(QueryError::Malformed { reason: format!("the answer is not Prometheus's JSON ({e})") });
        }
        Err(_) => return Err(QueryError::Status { status, body: crate::http::tail(body, 300) }),
    };
    match (envelope.status.as_str(), envelope.data) {
        ("error", _) => Err(QueryError::Api {
            status,
            error_type: envelope.error_type.unwrap_or_default(),
            error: envelope.error.unwrap_or_default(),
        }),
        ("success", _) if !(200..300).contains(&status) => {
            Err(QueryError::Status { status, body: crate::http::tail(body, 300) })
        }
        ("success", Some(data)) => Ok(data),
        ("success", None) => Err(QueryError::Malformed { reason: "a success without `data`".into() }),
        (other, _) => {
            Err(QueryError::Malformed { reason: format!("`status` is {other:?}, expected \"success\" or \"error\"") })
        }
    }
}

fn from_value<T: serde::de::DeserializeOwned>(value: Value, what: &str) -> Result<T, QueryError> {
    serde_json::from_value(value).map_err(|e| QueryError::Malformed { reason: format!("{what}: {e}") })
}

/// A sample value as Prometheus writes it: a decimal, `NaN`, `+Inf` or `-Inf`.
fn number(text: &str) -> Result<f64, QueryError> {
    match text {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => text.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| QueryError::Malformed {
            reason: format!("sample value {text:?}, expected a number, NaN, +Inf or -Inf"),
        }),
    }
}

/// A sample time: seconds since the epoch with a fraction of milliseconds.
fn time(seconds: f64) -> Result<DateTime<Utc>, QueryError> {
    let millis = (seconds * 1000.0).round();
    // i64 holds any millisecond count chrono can represent; the range check keeps the cast exact.
    if !millis.is_finite() || millis.abs() > 1e17 {
        return Err(QueryError::Malformed { reason: format!("sample time {seconds}, expected unix seconds") });
    }
    DateTime::from_timestamp_millis(millis as i64)
        .ok_or_else(|| QueryError::Malformed { reason: format!("sample time {seconds}, out of range") })
}

fn no_float(histogram: bool, labels: &BTreeMap<String, String>) -> QueryError {
    let what = if histogram { "a native histogram" } else { "no value" };
    QueryError::Malformed { reason: format!("the series {labels:?} has {what}, expected a float sample") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// The example of the API documentation's "Instant queries" section.
    #[test]
    fn vector_from_the_documentation() {
        let body = r#"{
           "status" : "success",
           "data" : {
              "resultType" : "vector",
              "result" : [
                 {
                    "metric" : { "__name__" : "up", "job" : "prometheus", "instance" : "localhost:9090" },
                    "value": [ 1435781451.781, "1" ]
                 },
                 {
                    "metric" : { "__name__" : "up", "job" : "node", "instance" : "localhost:9100" },
                    "value" : [ 1435781451.781, "0" ]
                 }
              ]
           }
        }"#;
        let samples = instant(200, body).unwrap();
        assert_eq!(
            samples,
            vec![
                Sample {
                    labels: labels(&[("__name__", "up"), ("instance", "localhost:9090"), ("job", "prometheus")]),
                    value: 1.0
                },
                Sample {
                    labels: labels(&[("__name__", "up"), ("instance", "localhost:9100"), ("job", "node")]),
                    value: 0.0
                },
            ]
        );
    }

    #[test]
    fn an_empty_vector_is_no_samples() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(instant(200, body).unwrap(), vec![]);
    }

    #[test]
    fn a_scalar_is_one_sample_without_labels() {
        let body = r#"{"status":"success","data":{"resultType":"scalar","result":[1435781451.781,"0.25"]}}"#;
        assert_eq!(instant(200, body).unwrap(), vec![Sample { labels: BTreeMap::new(), value: 0.25 }]);
    }

    #[test]
    fn nan_and_infinities_parse() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"q":"a"},"value":[1,"NaN"]},
            {"metric":{"q":"b"},"value":[1,"+Inf"]},
            {"metric":{"q":"c"},"value":[1,"-Inf"]},
            {"metric":{"q":"d"},"value":[1,"1e-3"]}]}}"#;
        let values: Vec<f64> = instant(200, body).unwrap().into_iter().map(|s| s.value).collect();
        assert!(values[0].is_nan());
        assert_eq!(&values[1..], &[f64::INFINITY, f64::NEG_INFINITY, 0.001]);
    }

    #[test]
    fn warnings_do_not_stop_a_success() {
        let body = r#"{"status":"success","warnings":["PromQL info: metric might not be a counter"],
            "data":{"resultType":"scalar","result":[1,"2"]}}"#;
        assert_eq!(instant(200, body).unwrap()[0].value, 2.0);
    }

    #[test]
    fn a_matrix_or_string_is_refused_by_an_instant_query_naming_its_type() {
        let matrix = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        let string = r#"{"status":"success","data":{"resultType":"string","result":[1,"hello"]}}"#;
        for (body, name) in [(matrix, "matrix"), (string, "string")] {
            let error = instant(200, body).unwrap_err();
            assert_eq!(error, QueryError::ResultType { got: name.into(), expected: "a vector or a scalar" });
            assert!(error.to_string().contains(name), "{error}");
        }
    }

    /// The example of the documentation's "Range queries" section.
    #[test]
    fn matrix_from_the_documentation() {
        let body = r#"{
           "status" : "success",
           "data" : {
              "resultType" : "matrix",
              "result" : [
                 {
                    "metric" : { "__name__" : "up", "job" : "prometheus", "instance" : "localhost:9090" },
                    "values" : [ [ 1435781430.781, "1" ], [ 1435781445.781, "1" ], [ 1435781460.781, "1" ] ]
                 },
                 {
                    "metric" : { "__name__" : "up", "job" : "node", "instance" : "localhost:9091" },
                    "values" : [ [ 1435781430.781, "0" ], [ 1435781445.781, "0" ], [ 1435781460.781, "1" ] ]
                 }
              ]
           }
        }"#;
        let series = range(200, body).unwrap();
        assert_eq!(series.len(), 2);
        assert_eq!(series[1].labels["job"], "node");
        let at = |ms| DateTime::from_timestamp_millis(ms).unwrap();
        assert_eq!(
            series[1].points,
            vec![(at(1435781430781), 0.0), (at(1435781445781), 0.0), (at(1435781460781), 1.0)]
        );
    }

    #[test]
    fn a_range_query_wants_a_matrix() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(
            range(200, body).unwrap_err(),
            QueryError::ResultType { got: "vector".into(), expected: "a matrix" }
        );
    }

    /// What Prometheus answers for `sum(rate(x[5m])` (400, bad_data).
    #[test]
    fn an_error_body_keeps_error_type_and_message() {
        let body = r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:17: parse error: unclosed left parenthesis"}"#;
        let error = instant(400, body).unwrap_err();
        assert_eq!(error.error_type(), Some("bad_data"));
        assert!(
            matches!(&error, QueryError::Api { status: 400, error, .. } if error.contains("unclosed left parenthesis")),
            "{error:?}"
        );
        let timeout = r#"{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}"#;
        assert_eq!(range(503, timeout).unwrap_err().error_type(), Some("timeout"));
    }

    #[test]
    fn a_status_without_prometheus_json_keeps_the_body() {
        let error = instant(502, "<html>Bad Gateway</html>").unwrap_err();
        assert_eq!(error, QueryError::Status { status: 502, body: "<html>Bad Gateway</html>".into() });
        let error = instant(404, r#"{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}"#);
        assert!(matches!(error, Err(QueryError::Status { status: 404, .. })));
    }

    #[test]
    fn malformed_answers_say_what_was_expected() {
        let cases = [
            ("not json", "not Prometheus's JSON"),
            (r#"{"status":"success"}"#, "without `data`"),
            (
                r#"{"status":"partial","data":{"resultType":"scalar","result":[1,"1"]}}"#,
                "expected \"success\" or \"error\"",
            ),
            (r#"{"status":"success","data":{"resultType":"scalar","result":[1,"one"]}}"#, "expected a number"),
            (r#"{"status":"success","data":{"resultType":"scalar","result":[1,"inf"]}}"#, "expected a number"),
            (r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}}"#, "expected a float"),
            (r#"{"status":"success","data":{"resultType":"vector","result":{"a":1}}}"#, "a vector's result"),
            (
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1,{"count":"2"}]}]}}"#,
                "native histogram",
            ),
        ];
        for (body, expected) in cases {
            let error = instant(200, body).unwrap_err();
            assert!(matches!(error, QueryError::Malformed { .. }), "{body}: {error:?}");
            assert!(error.to_string().contains(expected), "{body}: {error}");
        }
        let bad_time =
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1e300,"1"]]}]}}"#;
        assert!(range(200, bad_time).unwrap_err().to_string().contains("sample time"));
    }
}
