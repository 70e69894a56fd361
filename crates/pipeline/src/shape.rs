//! The shape context a graph is compiled under: vLLM's `runtime_shape`
//! (`None` or one token count) and its newer compile ranges.
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShapeContext {
    /// The general graph: num_tokens symbolic.
    Symbolic,
    /// Specialized to one token count.
    Static(u64),
    /// Token counts in `[start, end]` (inclusive), vLLM's compile ranges.
    Range { start: u64, end: u64 },
}

impl fmt::Display for ShapeContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShapeContext::Symbolic => f.write_str("symbolic"),
            ShapeContext::Static(n) => write!(f, "{n}"),
            ShapeContext::Range { start, end } => write!(f, "{start}:{end}"),
        }
    }
}

impl ShapeContext {
    /// `256` or `1:8192`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let num = |x: &str| x.trim().parse::<u64>().map_err(|_| format!("'{x}' is not a token count"));
        match s.split_once(':') {
            Some((a, b)) => {
                let (start, end) = (num(a)?, num(b)?);
                if start == 0 || start > end {
                    return Err(format!("compile range '{s}' must satisfy 1 <= start <= end"));
                }
                Ok(if start == end { ShapeContext::Static(start) } else { ShapeContext::Range { start, end } })
            }
            None => match num(s)? {
                0 => Err("a runtime shape must be at least 1 token".into()),
                n => Ok(ShapeContext::Static(n)),
            },
        }
    }

    /// The largest token count the context admits (`None` = unbounded).
    pub fn max_tokens(&self) -> Option<u64> {
        match self {
            ShapeContext::Symbolic => None,
            ShapeContext::Static(n) => Some(*n),
            ShapeContext::Range { end, .. } => Some(*end),
        }
    }
}
