//! PTX text to decoded instructions: one `.entry`, its parameters, its
//! `.shared` variables, labels resolved to instruction indices, registers
//! to slots, every opcode checked against what `exec` implements.
use std::collections::HashMap;

/// An operand type, as the opcode's last suffix names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    B16,
    B32,
    B64,
    U16,
    U32,
    U64,
    /// Only as `cvt.rni.sat.s8.f32`'s destination type.
    S8,
    S16,
    S32,
    S64,
    F32,
    F16,
    Bf16,
    F16x2,
    Bf16x2,
    E4m3x2,
    /// Two f32 in a 64-bit register (sm_100+), element 0 in the low half.
    F32x2,
    /// A predicate (one bit): `and`/`or`/`xor`/`not` combine them.
    Pred,
}

impl Ty {
    fn parse(s: &str) -> Option<Ty> {
        Some(match s {
            "b16" => Ty::B16,
            "b32" => Ty::B32,
            "b64" => Ty::B64,
            "u16" => Ty::U16,
            "u32" => Ty::U32,
            "u64" => Ty::U64,
            "s8" => Ty::S8,
            "s16" => Ty::S16,
            "s32" => Ty::S32,
            "s64" => Ty::S64,
            "f32" => Ty::F32,
            "f16" => Ty::F16,
            "bf16" => Ty::Bf16,
            "f16x2" => Ty::F16x2,
            "bf16x2" => Ty::Bf16x2,
            "e4m3x2" => Ty::E4m3x2,
            "f32x2" => Ty::F32x2,
            "pred" => Ty::Pred,
            _ => return None,
        })
    }

    /// Width in bits.
    pub(crate) fn bits(self) -> u32 {
        match self {
            Ty::S8 => 8,
            Ty::B16 | Ty::U16 | Ty::S16 | Ty::F16 | Ty::Bf16 | Ty::E4m3x2 => 16,
            Ty::B32 | Ty::U32 | Ty::S32 | Ty::F32 | Ty::F16x2 | Ty::Bf16x2 => 32,
            Ty::B64 | Ty::U64 | Ty::S64 | Ty::F32x2 => 64,
            Ty::Pred => 1,
        }
    }

    pub(crate) fn signed(self) -> bool {
        matches!(self, Ty::S8 | Ty::S16 | Ty::S32 | Ty::S64)
    }

    pub(crate) fn int(self) -> bool {
        matches!(self, Ty::B16 | Ty::B32 | Ty::B64 | Ty::U16 | Ty::U32 | Ty::U64 | Ty::S8 | Ty::S16 | Ty::S32 | Ty::S64)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bin {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
    And,
    Or,
    Xor,
    Shl,
    Shr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Un {
    Neg,
    Not,
    Abs,
    Rcp,
    /// `rcp.approx.ftz`: run as the rounded reciprocal (the hardware is
    /// within 1 ulp of it), subnormal inputs and results flushed to zero
    /// of their sign.
    RcpApproxFtz,
    Rsqrt,
    Ex2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// The unordered forms (`equ`, `ltu`, ...): true when either is NaN.
    Equ,
    Neu,
    Ltu,
    Leu,
    Gtu,
    Geu,
    Num,
    Nan,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    LdParam,
    Cvta,
    /// With the type, which sets the element width of `{a, b}` packing.
    Mov(Ty),
    Ld {
        shared: bool,
        n: u8,
        ty: Ty,
    },
    St {
        shared: bool,
        n: u8,
        ty: Ty,
    },
    AtomMax(Ty),
    Cvt {
        dst: Ty,
        src: Ty,
        rni: bool,
    },
    Bin(Bin, Ty),
    MulWide(Ty),
    /// `mul.hi`: the high 32 bits of the 64-bit product (LLVM's division by
    /// a constant).
    MulHi(Ty),
    MadLo(Ty),
    /// `fma.rn`: `a * b + c` rounded once (f32, or per 16-bit lane).
    Fma(Ty),
    Un(Un, Ty),
    Setp(Cmp, Ty),
    Selp,
    Prmt,
    /// `bfe.u32` / `bfe.s32`: `len` bits of `a` from bit `pos`, zero- or
    /// sign-extended (LLVM's `(x >> pos) & mask` for a value of known range).
    Bfe(Ty),
    ShflBfly,
    Bar,
    Bra,
    Ret,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Special {
    Tid(u8),
    Ntid(u8),
    Ctaid(u8),
    Nctaid(u8),
    Laneid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Base {
    Reg(u16),
    Param(usize),
    /// A `.shared` variable: its offset in the CTA's shared window.
    Shared(u64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Opnd {
    Reg(u16),
    Imm(u64),
    Special(Special),
    Mem(Base, i64),
    Vec(Vec<u16>),
    /// `%r1|%p1`: a value and the predicate some instructions also write.
    RegPred(u16, u16),
    Label(usize),
}

#[derive(Clone, Debug)]
pub(crate) struct Inst {
    /// `@%p` / `@!%p`: the predicate slot and whether it is negated.
    pub pred: Option<(u16, bool)>,
    pub op: Op,
    pub ops: Vec<Opnd>,
    /// The source line, for errors.
    pub text: String,
}

/// One parsed `.entry`.
#[derive(Clone, Debug)]
pub struct Kernel {
    pub name: String,
    /// Parameter sizes in bytes, in order.
    pub params: Vec<u32>,
    pub(crate) insts: Vec<Inst>,
    pub(crate) regs: usize,
    pub(crate) shared_bytes: usize,
}

impl Kernel {
    /// The source text of instruction `i` (as `Stats::executed` indexes it).
    pub fn instruction(&self, i: usize) -> Option<&str> {
        self.insts.get(i).map(|inst| inst.text.as_str())
    }
}

/// Parses the `.entry` named `entry` of `ptx`.
pub fn parse(ptx: &str, entry: &str) -> Result<Kernel, String> {
    let lines: Vec<&str> = ptx.lines().map(|l| l.split("//").next().unwrap_or("").trim()).collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with(".visible .entry ") && l.trim_start_matches(".visible .entry ").starts_with(&format!("{entry}(")))
        .ok_or_else(|| format!("no .entry {entry}"))?;
    let mut params = Vec::new();
    let mut param_names = HashMap::new();
    let mut i = start + 1;
    while i < lines.len() && !lines[i].starts_with(')') {
        let l = lines[i].trim_end_matches(',');
        if let Some(rest) = l.strip_prefix(".param ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let size = match words.first().copied() {
                Some(".u64" | ".b64" | ".s64") => 8,
                Some(".u32" | ".b32" | ".s32" | ".f32") => 4,
                other => return Err(format!("parameter type {other:?} in `{l}`")),
            };
            let name = words.last().ok_or("a parameter without a name")?;
            param_names.insert(name.to_string(), params.len());
            params.push(size);
        }
        i += 1;
    }
    // The body: from the `{` after the parameters to the `}` closing it.
    let open = (i..lines.len()).find(|&j| lines[j] == "{").ok_or("no kernel body")?;
    let close = (open..lines.len()).find(|&j| lines[j] == "}").ok_or("an unclosed kernel body")?;
    let body = &lines[open + 1..close];

    let mut shared = HashMap::new();
    let mut shared_bytes = 0usize;
    let mut labels = HashMap::new();
    let mut count = 0usize;
    for l in body {
        if let Some(rest) = l.strip_prefix(".shared ") {
            // `.shared .align 4 .b8 name[128];`
            let words: Vec<&str> = rest.trim_end_matches(';').split_whitespace().collect();
            let align: usize =
                words.iter().position(|w| *w == ".align").and_then(|p| words.get(p + 1)).and_then(|a| a.parse().ok()).unwrap_or(1).max(1);
            let decl = words.last().ok_or("an empty .shared")?;
            let (name, size) = decl.split_once('[').ok_or_else(|| format!("unsupported .shared `{l}`"))?;
            let size: usize = size.trim_end_matches(']').parse().map_err(|_| format!("unsupported .shared `{l}`"))?;
            shared_bytes = shared_bytes.div_ceil(align) * align;
            shared.insert(name.to_string(), shared_bytes as u64);
            shared_bytes += size;
        } else if let Some(label) = l.strip_suffix(':') {
            labels.insert(label.to_string(), count);
        } else if is_inst(l) {
            count += 1;
        }
    }
    let mut regs = HashMap::new();
    let mut insts = Vec::with_capacity(count);
    for l in body.iter().filter(|l| is_inst(l)) {
        let ctx = Ctx { regs: &mut regs, labels: &labels, params: &param_names, shared: &shared };
        insts.push(inst(l, ctx).map_err(|e| format!("`{l}`: {e}"))?);
    }
    Ok(Kernel { name: entry.to_string(), params, insts, regs: regs.len(), shared_bytes })
}

fn is_inst(l: &str) -> bool {
    !l.is_empty() && !l.starts_with('.') && !l.starts_with('{') && !l.starts_with('}') && !l.ends_with(':')
}

struct Ctx<'a> {
    regs: &'a mut HashMap<String, u16>,
    labels: &'a HashMap<String, usize>,
    params: &'a HashMap<String, usize>,
    shared: &'a HashMap<String, u64>,
}

impl Ctx<'_> {
    fn reg(&mut self, name: &str) -> Result<u16, String> {
        if !name.starts_with('%') || name.contains('.') {
            return Err(format!("`{name}` is not a register"));
        }
        let n = u16::try_from(self.regs.len()).map_err(|_| "more than 65536 registers".to_string())?;
        let slot = *self.regs.entry(name.to_string()).or_insert(n);
        Ok(slot)
    }

    fn operand(&mut self, s: &str) -> Result<Opnd, String> {
        if let Some(inner) = s.strip_prefix('{') {
            // `_` (PTX 8.3+) discards that part of an unpacking move: a register nothing reads.
            let regs = inner
                .trim_end_matches('}')
                .split(',')
                .map(|r| match r.trim() {
                    "_" => self.reg("%_sink"),
                    r => self.reg(r),
                })
                .collect::<Result<_, _>>()?;
            return Ok(Opnd::Vec(regs));
        }
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner.trim_end_matches(']');
            let (base, off) = match inner.get(1..).and_then(|r| r.find('+')) {
                Some(p) => (&inner[..p + 1], inner[p + 2..].parse::<i64>().map_err(|_| format!("offset in `{s}`"))?),
                None => (inner, 0),
            };
            let base = if base.starts_with('%') {
                Base::Reg(self.reg(base)?)
            } else if let Some(p) = self.params.get(base) {
                Base::Param(*p)
            } else if let Some(o) = self.shared.get(base) {
                Base::Shared(*o)
            } else {
                return Err(format!("unknown address `{base}`"));
            };
            return Ok(Opnd::Mem(base, off));
        }
        if let Some((v, p)) = s.split_once('|') {
            return Ok(Opnd::RegPred(self.reg(v)?, self.reg(p)?));
        }
        if let Some(sreg) = s.strip_prefix('%').and_then(|r| r.split_once('.')) {
            let dim = match sreg.1 {
                "x" => 0,
                "y" => 1,
                "z" => 2,
                _ => return Err(format!("special register `{s}`")),
            };
            return Ok(Opnd::Special(match sreg.0 {
                "tid" => Special::Tid(dim),
                "ntid" => Special::Ntid(dim),
                "ctaid" => Special::Ctaid(dim),
                "nctaid" => Special::Nctaid(dim),
                _ => return Err(format!("special register `{s}`")),
            }));
        }
        if s == "%laneid" {
            return Ok(Opnd::Special(Special::Laneid));
        }
        if s.starts_with('%') {
            return Ok(Opnd::Reg(self.reg(s)?));
        }
        if let Some(l) = self.labels.get(s) {
            return Ok(Opnd::Label(*l));
        }
        if let Some(o) = self.shared.get(s) {
            return Ok(Opnd::Imm(*o));
        }
        if let Some(hex) = s.strip_prefix("0f").filter(|h| h.len() == 8) {
            return u32::from_str_radix(hex, 16).map(|b| Opnd::Imm(b as u64)).map_err(|_| format!("float immediate `{s}`"));
        }
        // Integer immediates may carry an unsigned `U` suffix.
        let s = s.strip_suffix('U').unwrap_or(s);
        if let Some(hex) = s.strip_prefix("0x") {
            return u64::from_str_radix(hex, 16).map(Opnd::Imm).map_err(|_| format!("immediate `{s}`"));
        }
        s.parse::<i64>().map(|v| Opnd::Imm(v as u64)).map_err(|_| format!("operand `{s}`"))
    }
}

/// Splits operands at top-level commas (not inside `{}` or `[]`).
fn split_operands(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if !s[start..].trim().is_empty() {
        out.push(s[start..].trim());
    }
    out
}

fn inst(line: &str, mut ctx: Ctx<'_>) -> Result<Inst, String> {
    let l = line.trim_end_matches(';').trim();
    let (pred, l) = match l.strip_prefix('@') {
        Some(rest) => {
            let (p, rest) = rest.split_once(char::is_whitespace).ok_or("a predicate without an instruction")?;
            let (neg, p) = match p.strip_prefix('!') {
                Some(p) => (true, p),
                None => (false, p),
            };
            (Some((ctx.reg(p)?, neg)), rest.trim())
        }
        None => (None, l),
    };
    let (opcode, rest) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
    let op = opcode_of(opcode).ok_or_else(|| format!("unsupported instruction `{opcode}`"))?;
    let ops = split_operands(rest).into_iter().map(|o| ctx.operand(o)).collect::<Result<Vec<_>, _>>()?;
    // A form with other operands than `exec` reads (e.g. sm_100's
    // three-input max) would otherwise run with some of them ignored.
    if !arity(op).contains(&ops.len()) {
        return Err(format!("`{opcode}` with {} operands is not a form this simulator runs", ops.len()));
    }
    Ok(Inst { pred, op, ops, text: line.to_string() })
}

/// The operand counts `exec` implements for each instruction.
fn arity(op: Op) -> &'static [usize] {
    match op {
        Op::Ret => &[0],
        Op::Bra | Op::Bar => &[1],
        Op::LdParam | Op::Cvta | Op::Mov(_) | Op::Ld { .. } | Op::St { .. } | Op::Un(..) => &[2],
        Op::Cvt { dst: Ty::Bf16x2 | Ty::F16x2 | Ty::E4m3x2, .. } => &[3],
        Op::Cvt { .. } => &[2],
        // sm_100+ has a three-input f32 max/min.
        Op::Bin(Bin::Max | Bin::Min, Ty::F32) => &[3, 4],
        Op::Bin(..) | Op::MulWide(_) | Op::MulHi(_) | Op::Setp(..) | Op::AtomMax(_) => &[3],
        Op::MadLo(_) | Op::Fma(_) | Op::Selp | Op::Prmt | Op::Bfe(_) => &[4],
        Op::ShflBfly => &[5],
    }
}

/// Decodes an opcode with its modifiers; `None` for anything `exec` does not
/// implement exactly (e.g. `.ftz`, `.sat`, other shuffle modes).
fn opcode_of(opcode: &str) -> Option<Op> {
    let parts: Vec<&str> = opcode.split('.').collect();
    let last = Ty::parse(parts.last()?);
    let mods: &[&str] = if parts.len() >= 2 { &parts[1..parts.len() - 1] } else { &[] };
    Some(match parts[0] {
        "ret" if parts.len() == 1 => Op::Ret,
        "bra" if parts.len() == 1 || (parts.len() == 2 && parts[1] == "uni") => Op::Bra,
        "bar" | "barrier" if parts.len() == 2 && parts[1] == "sync" => Op::Bar,
        "ld" if parts.get(1) == Some(&"param") => Op::LdParam,
        "cvta" if opcode == "cvta.to.global.u64" => Op::Cvta,
        "mov" if parts.len() == 2 && (last?.int() || last? == Ty::F32) => Op::Mov(last?),
        "ld" | "st" => {
            let shared = match *parts.get(1)? {
                "global" => false,
                "shared" => true,
                _ => return None,
            };
            let n = match mods.get(1) {
                None => 1,
                Some(&"v2") => 2,
                Some(&"v4") => 4,
                Some(_) => return None,
            };
            if mods.len() > 2 {
                return None;
            }
            let ty = last?;
            if parts[0] == "ld" { Op::Ld { shared, n, ty } } else { Op::St { shared, n, ty } }
        }
        "atom" if parts.len() == 4 && parts[1] == "global" && parts[2] == "max" && matches!(last?, Ty::U32 | Ty::S32) => Op::AtomMax(last?),
        "cvt" => {
            let (dst, src) = (Ty::parse(parts.get(parts.len().checked_sub(2)?)?)?, last?);
            let mods = &parts[1..parts.len() - 2];
            let rni = mods.contains(&"rni");
            let ok = match (dst, src) {
                (Ty::F32, Ty::Bf16 | Ty::F16) => mods.is_empty(),
                (Ty::Bf16x2 | Ty::F16x2 | Ty::Bf16 | Ty::F16, Ty::F32) => mods == ["rn"],
                (Ty::E4m3x2, Ty::F32) => mods == ["rn", "satfinite"],
                (Ty::S32, Ty::F32) => mods == ["rni"],
                (Ty::S8, Ty::F32) => mods == ["rni", "sat"],
                (Ty::F32, Ty::S32 | Ty::U32) => mods == ["rn"],
                (d, s) if d.int() && s.int() => mods.is_empty(),
                _ => false,
            };
            if !ok {
                return None;
            }
            Op::Cvt { dst, src, rni }
        }
        "mul" if mods == ["wide"] && matches!(last?, Ty::U32 | Ty::S32) => Op::MulWide(last?),
        "mul" if mods == ["hi"] && matches!(last?, Ty::U32 | Ty::S32 | Ty::U64 | Ty::S64) => Op::MulHi(last?),
        "mad" if mods == ["lo"] && last?.int() => Op::MadLo(last?),
        "bfe" if mods.is_empty() && matches!(last?, Ty::U32 | Ty::S32) => Op::Bfe(last?),
        "fma" if mods == ["rn"] && matches!(last?, Ty::F32 | Ty::Bf16x2 | Ty::F16x2 | Ty::F32x2) => Op::Fma(last?),
        "add" | "sub" | "mul" | "div" | "max" | "min" | "and" | "or" | "xor" | "shl" | "shr" => {
            let ty = last?;
            let b = match parts[0] {
                "add" => Bin::Add,
                "sub" => Bin::Sub,
                "mul" => Bin::Mul,
                "div" => Bin::Div,
                "max" => Bin::Max,
                "min" => Bin::Min,
                "and" => Bin::And,
                "or" => Bin::Or,
                "xor" => Bin::Xor,
                "shl" => Bin::Shl,
                _ => Bin::Shr,
            };
            let ok = match ty {
                Ty::F32 => match b {
                    Bin::Add | Bin::Sub | Bin::Mul => mods == ["rn"],
                    // `div.full` (within 2 ulp) runs as `div.rn`, like the other approximations.
                    Bin::Div => mods == ["rn"] || mods == ["full"],
                    Bin::Max | Bin::Min => mods.is_empty(),
                    _ => false,
                },
                Ty::Bf16x2 | Ty::F16x2 | Ty::F32x2 => {
                    (matches!(b, Bin::Add | Bin::Sub | Bin::Mul) && mods == ["rn"])
                        || (matches!(b, Bin::Max | Bin::Min) && mods.is_empty() && ty != Ty::F32x2)
                }
                Ty::Bf16 | Ty::F16 => matches!(b, Bin::Max | Bin::Min) && mods.is_empty(),
                Ty::Pred => matches!(b, Bin::And | Bin::Or | Bin::Xor) && mods.is_empty(),
                t if t.int() => match b {
                    Bin::Mul => mods == ["lo"],
                    Bin::Div => false,
                    _ => mods.is_empty(),
                },
                _ => false,
            };
            if !ok {
                return None;
            }
            Op::Bin(b, ty)
        }
        "neg" | "not" | "abs" | "rcp" | "rsqrt" | "ex2" => {
            let ty = last?;
            let (u, ok) = match parts[0] {
                "neg" => (Un::Neg, (ty == Ty::F32 || ty.signed()) && mods.is_empty()),
                "not" => (Un::Not, (ty.int() || ty == Ty::Pred) && mods.is_empty()),
                "abs" => (Un::Abs, matches!(ty, Ty::F32 | Ty::Bf16x2 | Ty::F16x2) && mods.is_empty()),
                "rcp" if mods == ["approx", "ftz"] => (Un::RcpApproxFtz, ty == Ty::F32),
                "rcp" => (Un::Rcp, ty == Ty::F32 && mods == ["rn"]),
                "rsqrt" => (Un::Rsqrt, ty == Ty::F32 && mods == ["approx"]),
                _ => (Un::Ex2, ty == Ty::F32 && mods == ["approx"]),
            };
            if !ok {
                return None;
            }
            Op::Un(u, ty)
        }
        "setp" if parts.len() == 3 => {
            let cmp = match parts[1] {
                "eq" => Cmp::Eq,
                "ne" => Cmp::Ne,
                "lt" | "lo" => Cmp::Lt,
                "le" | "ls" => Cmp::Le,
                "gt" | "hi" => Cmp::Gt,
                "ge" | "hs" => Cmp::Ge,
                "equ" => Cmp::Equ,
                "neu" => Cmp::Neu,
                "ltu" => Cmp::Ltu,
                "leu" => Cmp::Leu,
                "gtu" => Cmp::Gtu,
                "geu" => Cmp::Geu,
                "num" => Cmp::Num,
                "nan" => Cmp::Nan,
                _ => return None,
            };
            Op::Setp(cmp, last?)
        }
        "selp" if parts.len() == 2 && last.is_some() => Op::Selp,
        "prmt" if opcode == "prmt.b32" => Op::Prmt,
        "shfl" if opcode == "shfl.sync.bfly.b32" => Op::ShflBfly,
        _ => return None,
    })
}
