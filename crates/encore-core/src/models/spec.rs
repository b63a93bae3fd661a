//! Parsing of model specs: `NAME[:key=value,key=value,…]`.

use std::collections::BTreeMap;

use super::Algorithm;
use crate::{Error, Result};

/// A model spec as written on the command line or in an API request, e.g.
/// `ials:factors=128,regularization=0.05,alpha=2,iterations=15`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    text: String,
    algorithm: Algorithm,
    params: Params,
}

impl ModelSpec {
    /// Parses `NAME[:key=value,…]`; keys must be unique. Values are checked later by the model's
    /// configuration, which also rejects unknown keys.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let (name, rest) = match text.split_once(':') {
            Some((n, r)) => (n.trim(), Some(r)),
            None => (text, None),
        };
        let algorithm: Algorithm = name.parse().map_err(|_| Error::InvalidSpec {
            spec: text.to_string(),
            message: format!(
                "unknown model `{name}`; expected one of ials, bpr, ease, itemknn, popularity"
            ),
        })?;
        let mut params = Params::default();
        if let Some(rest) = rest {
            for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (k, v) = part.split_once('=').ok_or_else(|| Error::InvalidSpec {
                    spec: text.to_string(),
                    message: format!("`{part}` is not of the form key=value"),
                })?;
                let (k, v) = (k.trim(), v.trim());
                if params.values.insert(k.to_string(), v.to_string()).is_some() {
                    return Err(Error::InvalidSpec {
                        spec: text.to_string(),
                        message: format!("parameter `{k}` is given twice"),
                    });
                }
            }
        }
        Ok(Self { text: text.to_string(), algorithm, params })
    }

    /// Builds a spec from an algorithm and a JSON object of parameters (the HTTP API's form).
    pub fn from_json(
        algorithm: Algorithm,
        params: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self> {
        let mut p = Params::default();
        for (k, v) in params {
            let s = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                other => {
                    return Err(Error::InvalidSpec {
                        spec: algorithm.name().to_string(),
                        message: format!(
                            "parameter `{k}` must be a string, number or boolean, not {other}"
                        ),
                    });
                }
            };
            p.values.insert(k.clone(), s);
        }
        let text = if p.values.is_empty() {
            algorithm.name().to_string()
        } else {
            let kv: Vec<String> = p.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{}:{}", algorithm.name(), kv.join(","))
        };
        Ok(Self { text, algorithm, params: p })
    }

    /// The spec as written.
    pub fn text(&self) -> &str {
        &self.text
    }
    /// The algorithm named.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
    /// The raw parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }
}

impl std::fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Raw `key=value` parameters of a spec. A model's configuration takes the keys it knows with the
/// typed getters; [`Params::finish`] then rejects any key left over (a typo must not be ignored).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    values: BTreeMap<String, String>,
}

impl Params {
    /// Builds parameters from pairs (for tests and programmatic use).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self { values: pairs.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
    }

    fn take_parsed<T: std::str::FromStr>(&mut self, key: &str, what: &str) -> Result<Option<T>> {
        match self.values.remove(key) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| Error::InvalidSpec {
                spec: format!("{key}={v}"),
                message: format!("`{key}` must be {what}"),
            }),
        }
    }

    /// Takes a finite float in `[min, max]`, or `default` when absent.
    pub fn f64(&mut self, key: &str, default: f64, min: f64, max: f64) -> Result<f64> {
        let v = self.take_parsed::<f64>(key, "a number")?.unwrap_or(default);
        if !v.is_finite() || v < min || v > max {
            return Err(Error::InvalidSpec {
                spec: format!("{key}={v}"),
                message: format!("`{key}` must be between {min} and {max}"),
            });
        }
        Ok(v)
    }

    /// Takes an integer in `[min, max]`, or `default` when absent.
    pub fn usize(&mut self, key: &str, default: usize, min: usize, max: usize) -> Result<usize> {
        let v = self.take_parsed::<usize>(key, "a non-negative integer")?.unwrap_or(default);
        if v < min || v > max {
            return Err(Error::InvalidSpec {
                spec: format!("{key}={v}"),
                message: format!("`{key}` must be between {min} and {max}"),
            });
        }
        Ok(v)
    }

    /// Takes a boolean (`true`/`false`), or `default` when absent.
    pub fn bool(&mut self, key: &str, default: bool) -> Result<bool> {
        Ok(self.take_parsed::<bool>(key, "true or false")?.unwrap_or(default))
    }

    /// Takes one of `choices`, or `default` when absent.
    pub fn choice(&mut self, key: &str, default: &str, choices: &[&str]) -> Result<String> {
        match self.values.remove(key) {
            None => Ok(default.to_string()),
            Some(v) if choices.contains(&v.as_str()) => Ok(v),
            Some(v) => Err(Error::InvalidSpec {
                spec: format!("{key}={v}"),
                message: format!("`{key}` must be one of {}", choices.join(", ")),
            }),
        }
    }

    /// Fails if any parameter was not taken by the configuration.
    pub fn finish(self, spec: &str) -> Result<()> {
        if let Some(k) = self.values.keys().next() {
            return Err(Error::InvalidSpec {
                spec: spec.to_string(),
                message: format!("unknown parameter `{k}`"),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_name_and_parameters() {
        let s = ModelSpec::parse("ials:factors=128, alpha=2").unwrap();
        assert_eq!(s.algorithm(), Algorithm::Ials);
        let mut p = s.params().clone();
        assert_eq!(p.usize("factors", 64, 1, 4096).unwrap(), 128);
        assert_eq!(p.f64("alpha", 1.0, 0.0, 1e6).unwrap(), 2.0);
        assert_eq!(p.f64("regularization", 0.1, 0.0, 1e6).unwrap(), 0.1);
        p.finish("x").unwrap();
        assert_eq!(ModelSpec::parse("popularity").unwrap().algorithm(), Algorithm::Popularity);
    }

    #[test]
    fn rejects_bad_specs() {
        assert!(ModelSpec::parse("svd").is_err());
        assert!(ModelSpec::parse("ials:factors").is_err());
        assert!(ModelSpec::parse("ials:factors=1,factors=2").is_err());
        let mut p = ModelSpec::parse("ials:factors=abc").unwrap().params().clone();
        assert!(p.usize("factors", 64, 1, 4096).is_err());
        let mut p = ModelSpec::parse("ials:alpha=nan").unwrap().params().clone();
        assert!(p.f64("alpha", 1.0, 0.0, 1e6).is_err());
        let p = ModelSpec::parse("ials:factros=3").unwrap().params().clone();
        assert!(p.finish("ials:factros=3").is_err());
    }
}
