//! Runs a parsed kernel: every CTA of the grid in turn, each with all its
//! threads. A thread runs until it reaches a `shfl.sync` (its warp's lanes
//! named by the member mask must all arrive at that shuffle, then they
//! exchange values), a `bar.sync` (every thread of the CTA must arrive) or
//! `ret`. Anything else is an error: a lane missing from a shuffle or a
//! barrier nobody can pass (a deadlock), a barrier some threads skipped by
//! returning (divergent).
use crate::parse::{Base, Bin, Cmp, Inst, Kernel, Op, Opnd, Special, Ty, Un};

/// A kernel argument, in parameter order.
#[derive(Debug)]
pub enum Arg<'a> {
    /// A device buffer: the kernel gets a pointer to it.
    Buf(&'a mut [u8]),
    F32(f32),
    I32(i32),
    I64(i64),
}

/// A 1-D launch.
#[derive(Clone, Copy, Debug)]
pub struct Launch {
    pub grid: u32,
    pub block: u32,
}

/// What a launch did: instructions, and the global memory traffic of each
/// buffer argument (in argument order; scalars get an empty entry).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub instructions: u64,
    pub buffers: Vec<Traffic>,
    /// How often each instruction ran (by index; `Kernel::instruction`
    /// gives its text), summed over threads: where the time goes.
    pub executed: Vec<u64>,
}

/// Global memory traffic as a GPU sees it. A warp-level request is the
/// accesses of one warp's lanes at one execution of one load or store; it
/// moves the distinct 32-byte sectors it touches. `*_bytes` counts the
/// distinct bytes of each request (a broadcast load counts once), so
/// `*_sectors * 32 == *_bytes` means every sector moved is used whole.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    pub load_requests: u64,
    pub load_bytes: u64,
    pub load_sectors: u64,
    pub store_requests: u64,
    pub store_bytes: u64,
    pub store_sectors: u64,
}

/// Global addresses: buffer `i` starts at `(i + 1) << 40`.
const SHIFT: u32 = 40;
/// Instructions one launch may execute before it is called a runaway
/// (about a minute of interpretation; the tests' launches take a few million).
const BUDGET: u64 = 1 << 32;
/// Shared memory starts as this byte, not zero: a read before any write shows.
const POISON: u8 = 0xff;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Ready,
    Shfl,
    Bar,
    Done,
}

struct Thread {
    pc: usize,
    tid: u32,
    regs: Vec<u64>,
    state: State,
    /// How often this thread has run each global load/store (by `mem_slot`).
    mem_runs: Vec<u32>,
}

/// One warp-level request being gathered: (warp, pc, nth execution).
type RequestKey = (u32, usize, u32);

/// A request's accesses: store or load, and each lane's (address, bytes).
type Request = (bool, Vec<(u64, u64)>);

struct Machine<'k, 'a, 'b> {
    k: &'k Kernel,
    launch: Launch,
    cta: u32,
    bufs: Vec<&'b mut &'a mut [u8]>,
    /// The argument index of each buffer.
    buf_arg: Vec<usize>,
    params: Vec<u64>,
    shared: Vec<u8>,
    budget: u64,
    /// Index of each global load/store among them (for `Thread::mem_runs`).
    mem_slot: Vec<Option<usize>>,
    requests: std::collections::HashMap<RequestKey, Request>,
    stats: Stats,
}

/// Runs `kernel` over `launch` with `args`; returns the instructions executed.
pub fn run(kernel: &Kernel, launch: Launch, args: &mut [Arg<'_>]) -> Result<Stats, String> {
    if args.len() != kernel.params.len() {
        return Err(format!("{}: {} arguments for {} parameters", kernel.name, args.len(), kernel.params.len()));
    }
    let mut bufs = Vec::new();
    let mut buf_arg = Vec::new();
    let mut params = Vec::new();
    for (i, a) in args.iter_mut().enumerate() {
        match a {
            Arg::Buf(b) => {
                if kernel.params[i] != 8 {
                    return Err(format!("{}: parameter {i} is not a pointer", kernel.name));
                }
                bufs.push(b);
                buf_arg.push(i);
                params.push((bufs.len() as u64) << SHIFT);
            }
            Arg::F32(v) => {
                if kernel.params[i] != 4 {
                    return Err(format!("{}: parameter {i} is not a 32-bit scalar", kernel.name));
                }
                params.push(v.to_bits() as u64);
            }
            Arg::I32(v) => {
                if kernel.params[i] != 4 {
                    return Err(format!("{}: parameter {i} is not a 32-bit scalar", kernel.name));
                }
                params.push(*v as u32 as u64);
            }
            Arg::I64(v) => {
                if kernel.params[i] != 8 {
                    return Err(format!("{}: parameter {i} is not a 64-bit scalar", kernel.name));
                }
                params.push(*v as u64);
            }
        }
    }
    let mut slots = 0;
    let mem_slot = kernel
        .insts
        .iter()
        .map(|i| {
            matches!(i.op, Op::Ld { shared: false, .. } | Op::St { shared: false, .. } | Op::AtomMax(_)).then(|| {
                slots += 1;
                slots - 1
            })
        })
        .collect();
    let mut m = Machine {
        k: kernel,
        launch,
        cta: 0,
        bufs,
        buf_arg,
        params,
        shared: vec![POISON; kernel.shared_bytes],
        budget: BUDGET,
        mem_slot,
        requests: Default::default(),
        stats: Stats { instructions: 0, buffers: vec![Traffic::default(); kernel.params.len()], executed: vec![0; kernel.insts.len()] },
    };
    for cta in 0..launch.grid {
        m.cta = cta;
        m.shared.fill(POISON);
        m.run_cta().map_err(|e| format!("{} (CTA {cta}): {e}", kernel.name))?;
        m.close_requests();
    }
    m.stats.instructions = BUDGET - m.budget;
    Ok(m.stats)
}

fn f(v: u64) -> f32 {
    f32::from_bits(v as u32)
}

fn bits(v: f32) -> u64 {
    v.to_bits() as u64
}

fn mask(v: u64, width: u32) -> u64 {
    if width >= 64 { v } else { v & ((1u64 << width) - 1) }
}

fn sext(v: u64, width: u32) -> i64 {
    let s = 64 - width;
    ((v << s) as i64) >> s
}

fn bf16_to_f32(v: u64) -> f32 {
    f32::from_bits((v as u32 & 0xffff) << 16)
}

fn f16_to_f32(v: u64) -> f32 {
    half::f16::from_bits(v as u16).to_f32()
}

/// The add, sub or mul of a packed lane (or an f32), in `T`'s arithmetic.
fn lane_arith<T: std::ops::Add<Output = T> + std::ops::Sub<Output = T> + std::ops::Mul<Output = T>>(
    op: Bin,
    x: T,
    y: T,
) -> Result<T, String> {
    Ok(match op {
        Bin::Add => x + y,
        Bin::Sub => x - y,
        Bin::Mul => x * y,
        _ => return Err(format!("{op:?} on a packed type")),
    })
}

/// A 16-bit lane (bf16 or f16) as f64, exactly.
fn half_to_f64(v: u64, bf: bool) -> f64 {
    if bf { bf16_to_f32(v) as f64 } else { f16_to_f32(v) as f64 }
}

/// `r` rounded once (to nearest even) to a 16-bit lane.
fn f64_to_half(r: f64, bf: bool) -> u64 {
    if bf { half::bf16::from_f64(r).to_bits() as u64 } else { half::f16::from_f64(r).to_bits() as u64 }
}

/// One 16-bit lane of a packed op: computed in f64 (exact for a sum or
/// product of two 16-bit floats) and rounded once to the lane type; `max`
/// and `min` as `fmaxf`/`fminf` (a NaN lane yields the other; both NaN, the
/// canonical NaN; -0 below +0), the lane's bits when it is the answer.
fn half_lane(a: u64, b: u64, op: Bin, bf: bool) -> Result<u64, String> {
    if let Bin::Max | Bin::Min = op {
        let (x, y) = (half_to_f64(a, bf), half_to_f64(b, bf));
        return Ok(match (x.is_nan(), y.is_nan()) {
            (true, true) => 0x7fff, // the canonical NaN of both lane types
            (true, false) => b,
            (false, true) => a,
            _ => {
                let a_wins = if op == Bin::Max { x > y || (x == y && a & 0x8000 == 0) } else { x < y || (x == y && a & 0x8000 != 0) };
                if a_wins { a } else { b }
            }
        });
    }
    Ok(f64_to_half(lane_arith(op, half_to_f64(a, bf), half_to_f64(b, bf))?, bf))
}

/// `fma.rn` of one 16-bit lane: the product of two 16-bit floats is exact
/// in f64 and the sum with a third rounds there at most far below the lane's
/// precision, so rounding the f64 result to the lane type is the single
/// rounding PTX specifies.
fn fma_lane(a: u64, b: u64, c: u64, bf: bool) -> u64 {
    f64_to_half(half_to_f64(a, bf) * half_to_f64(b, bf) + half_to_f64(c, bf), bf)
}

/// `cvt.rn.satfinite.e4m3x2.f32` of one value: NaN to 0x7f, beyond ±448 to ±448.
fn e4m3_satfinite(v: f32) -> u64 {
    if v.is_nan() {
        return 0x7f;
    }
    float8::F8E4M3::from_f32(v.clamp(-448.0, 448.0)).to_bits() as u64
}

fn compare(cmp: Cmp, ty: Ty, a: u64, b: u64) -> bool {
    if ty.int() {
        let w = ty.bits();
        let ord = if ty.signed() { sext(a, w).cmp(&sext(b, w)) } else { mask(a, w).cmp(&mask(b, w)) };
        use std::cmp::Ordering::*;
        return match cmp {
            Cmp::Eq => ord == Equal,
            Cmp::Ne => ord != Equal,
            Cmp::Lt => ord == Less,
            Cmp::Le => ord != Greater,
            Cmp::Gt => ord == Greater,
            Cmp::Ge => ord != Less,
            _ => false,
        };
    }
    let to = |v| match ty {
        Ty::Bf16 => bf16_to_f32(v),
        Ty::F16 => f16_to_f32(v),
        _ => f(v),
    };
    let (x, y) = (to(a), to(b));
    let nan = x.is_nan() || y.is_nan();
    match cmp {
        Cmp::Eq => x == y,
        Cmp::Ne => !nan && x != y,
        Cmp::Lt => x < y,
        Cmp::Le => x <= y,
        Cmp::Gt => x > y,
        Cmp::Ge => x >= y,
        Cmp::Equ => nan || x == y,
        Cmp::Neu => nan || x != y,
        Cmp::Ltu => nan || x < y,
        Cmp::Leu => nan || x <= y,
        Cmp::Gtu => nan || x > y,
        Cmp::Geu => nan || x >= y,
        Cmp::Num => !nan,
        Cmp::Nan => nan,
    }
}

fn int_bin(op: Bin, ty: Ty, a: u64, b: u64) -> Result<u64, String> {
    let w = ty.bits();
    let shift = |b: u64| (mask(b, 32) as u32).min(w);
    Ok(mask(
        match op {
            Bin::Add => a.wrapping_add(b),
            Bin::Sub => a.wrapping_sub(b),
            Bin::Mul => a.wrapping_mul(b),
            Bin::And => a & b,
            Bin::Or => a | b,
            Bin::Xor => a ^ b,
            Bin::Shl => {
                let s = shift(b);
                if s >= 64 { 0 } else { mask(a, w) << s }
            }
            Bin::Shr if ty.signed() => (sext(a, w) >> shift(b).min(63)) as u64,
            Bin::Shr => {
                let s = shift(b);
                if s >= 64 { 0 } else { mask(a, w) >> s }
            }
            Bin::Max | Bin::Min => {
                let less = if ty.signed() { sext(a, w) < sext(b, w) } else { mask(a, w) < mask(b, w) };
                if (op == Bin::Max) == less { b } else { a }
            }
            Bin::Div => return Err("integer division".into()),
        },
        w,
    ))
}

impl Machine<'_, '_, '_> {
    fn run_cta(&mut self) -> Result<(), String> {
        let block = self.launch.block;
        let slots = self.mem_slot.iter().flatten().count();
        let mut threads: Vec<Thread> = (0..block)
            .map(|tid| Thread { pc: 0, tid, regs: vec![0; self.k.regs], state: State::Ready, mem_runs: vec![0; slots] })
            .collect();
        loop {
            for t in threads.iter_mut().filter(|t| t.state == State::Ready) {
                self.run_thread(t)?;
            }
            let mut progressed = false;
            for warp in threads.chunks_mut(32) {
                progressed |= self.shuffle(warp)?;
            }
            if progressed {
                continue;
            }
            if threads.iter().all(|t| t.state == State::Done) {
                return Ok(());
            }
            // A barrier every thread reaches. (One some threads skip by
            // returning first is divergent: an error, not a guess at what
            // the hardware does.)
            if threads.iter().all(|t| t.state == State::Bar) {
                for t in threads.iter_mut() {
                    t.state = State::Ready;
                    t.pc += 1;
                }
                continue;
            }
            if threads.iter().all(|t| matches!(t.state, State::Bar | State::Done)) {
                let done = threads.iter().filter(|t| t.state == State::Done).count();
                return Err(format!("divergent barrier: {done} threads returned without reaching `bar.sync`"));
            }
            let stuck: Vec<String> = threads
                .iter()
                .filter(|t| t.state != State::Done)
                .take(4)
                .map(|t| format!("thread {} {:?} at `{}`", t.tid, t.state, self.k.insts[t.pc].text))
                .collect();
            return Err(format!("deadlock: {}", stuck.join("; ")));
        }
    }

    /// Runs `t` until it reaches a shuffle, a barrier or `ret`.
    fn run_thread(&mut self, t: &mut Thread) -> Result<(), String> {
        loop {
            let inst = self.k.insts.get(t.pc).ok_or("ran past the last instruction")?;
            self.budget = self.budget.checked_sub(1).ok_or("instruction budget exhausted (a runaway loop?)")?;
            self.stats.executed[t.pc] += 1;
            if let Some((p, neg)) = inst.pred
                && (t.regs[p as usize] != 0) == neg
            {
                t.pc += 1;
                continue;
            }
            match inst.op {
                Op::ShflBfly => {
                    t.state = State::Shfl;
                    return Ok(());
                }
                Op::Bar => {
                    t.state = State::Bar;
                    return Ok(());
                }
                Op::Ret => {
                    t.state = State::Done;
                    return Ok(());
                }
                Op::Bra => match inst.ops.first() {
                    Some(Opnd::Label(l)) => t.pc = *l,
                    _ => return Err(format!("`{}`: no label", inst.text)),
                },
                _ => {
                    self.exec(inst, t).map_err(|e| format!("thread {}: `{}`: {e}", t.tid, inst.text))?;
                    t.pc += 1;
                }
            }
        }
    }

    /// Exchanges values among the lanes of `warp` waiting at one shuffle,
    /// once every lane of its member mask is there.
    fn shuffle(&mut self, warp: &mut [Thread]) -> Result<bool, String> {
        let Some(first) = warp.iter().find(|t| t.state == State::Shfl) else { return Ok(false) };
        let pc = first.pc;
        let inst = &self.k.insts[pc];
        let [dst, a, b, c, members] = &inst.ops[..] else { return Err(format!("`{}`: operands", inst.text)) };
        let member_mask = self.get(first, members)? as u32;
        let in_mask = |lane: usize| member_mask >> lane & 1 == 1;
        let here = |t: &Thread| t.state == State::Shfl && t.pc == pc;
        if (0..32).filter(|l| in_mask(*l)).any(|l| warp.get(l).is_none_or(|t| !here(t))) {
            return Ok(false);
        }
        if warp.iter().enumerate().any(|(l, t)| here(t) && !in_mask(l)) {
            return Err(format!("`{}`: lane waiting outside the member mask {member_mask:#x}", inst.text));
        }
        let mut vals = [0u64; 32];
        for (l, t) in warp.iter().enumerate().filter(|(l, _)| in_mask(*l)) {
            vals[l] = self.get(t, a)?;
            if self.get(t, members)? as u32 != member_mask {
                return Err(format!("`{}`: lanes disagree on the member mask", inst.text));
            }
        }
        for (lane, t) in warp.iter_mut().enumerate().filter(|(l, _)| in_mask(*l)) {
            let bv = self.get(t, b)? as usize & 31;
            let cv = self.get(t, c)? as usize;
            let seg = (cv >> 8) & 31;
            let max_lane = (lane & seg) | (cv & 31 & !seg);
            let mut j = lane ^ bv;
            let pval = j <= max_lane;
            if !pval {
                j = lane;
            }
            if !in_mask(j) {
                return Err(format!("`{}`: lane {lane} reads lane {j}, outside the member mask", inst.text));
            }
            match dst {
                Opnd::Reg(d) => t.regs[*d as usize] = vals[j],
                Opnd::RegPred(d, p) => {
                    t.regs[*d as usize] = vals[j];
                    t.regs[*p as usize] = pval as u64;
                }
                _ => return Err(format!("`{}`: destination", inst.text)),
            }
            t.state = State::Ready;
            t.pc += 1;
        }
        Ok(true)
    }

    /// Records a global access of `len` bytes at `addr` by `t` at its pc.
    fn record(&mut self, t: &mut Thread, store: bool, addr: u64, len: usize) {
        let Some(slot) = self.mem_slot[t.pc] else { return };
        let nth = t.mem_runs[slot];
        t.mem_runs[slot] += 1;
        let r = self.requests.entry((t.tid / 32, t.pc, nth)).or_insert((store, Vec::new()));
        r.1.push((addr, len as u64));
    }

    /// Folds the CTA's warp-level requests into the per-buffer traffic.
    fn close_requests(&mut self) {
        for (_, (store, mut lanes)) in self.requests.drain() {
            lanes.sort_unstable();
            // The distinct bytes (merged ranges) and the sectors they touch.
            let (mut bytes, mut sectors, mut end, mut last_sector) = (0, 0, 0u64, u64::MAX);
            for (a, len) in &lanes {
                let (start, stop) = ((*a).max(end), a.saturating_add(*len));
                if stop > start {
                    bytes += stop - start;
                    end = stop;
                }
                for sector in a / 32..=(a.saturating_add(*len).saturating_sub(1)) / 32 {
                    if sector != last_sector {
                        sectors += 1;
                        last_sector = sector;
                    }
                }
            }
            let buf = (lanes[0].0 >> SHIFT) as usize;
            let Some(arg) = self.buf_arg.get(buf.wrapping_sub(1)).copied() else { continue };
            let t = &mut self.stats.buffers[arg];
            if store {
                t.store_requests += 1;
                t.store_bytes += bytes;
                t.store_sectors += sectors;
            } else {
                t.load_requests += 1;
                t.load_bytes += bytes;
                t.load_sectors += sectors;
            }
        }
    }

    fn get(&self, t: &Thread, o: &Opnd) -> Result<u64, String> {
        let (l, b) = (self.launch, self.cta);
        Ok(match o {
            Opnd::Reg(r) => t.regs[*r as usize],
            Opnd::Imm(v) => *v,
            Opnd::Special(s) => match s {
                Special::Tid(0) => t.tid as u64,
                Special::Ctaid(0) => b as u64,
                Special::Tid(_) | Special::Ctaid(_) => 0,
                Special::Ntid(0) => l.block as u64,
                Special::Nctaid(0) => l.grid as u64,
                Special::Ntid(_) | Special::Nctaid(_) => 1,
                Special::Laneid => (t.tid % 32) as u64,
            },
            _ => return Err(format!("{o:?} is not a value")),
        })
    }

    fn set(t: &mut Thread, o: &Opnd, v: u64, width: u32) -> Result<(), String> {
        match o {
            Opnd::Reg(r) => t.regs[*r as usize] = mask(v, width),
            _ => return Err(format!("{o:?} is not a register")),
        }
        Ok(())
    }

    /// The address of a memory operand, and whether it is in shared memory.
    fn addr(&self, t: &Thread, o: &Opnd, shared: bool) -> Result<u64, String> {
        match o {
            Opnd::Mem(Base::Reg(r), off) => Ok(t.regs[*r as usize].wrapping_add(*off as u64)),
            Opnd::Mem(Base::Shared(s), off) if shared => Ok(s.wrapping_add(*off as u64)),
            _ => Err(format!("{o:?} is not an address in this space")),
        }
    }

    fn bytes(&mut self, shared: bool, addr: u64, len: usize) -> Result<&mut [u8], String> {
        if !(addr as usize).is_multiple_of(len) {
            return Err(format!("misaligned {len}-byte access at {addr:#x}"));
        }
        if shared {
            let a = addr as usize;
            let size = self.k.shared_bytes;
            return a
                .checked_add(len)
                .and_then(|end| self.shared.get_mut(a..end))
                .ok_or_else(|| format!("shared access at {a} past {size} bytes"));
        }
        let (buf, off) = ((addr >> SHIFT) as usize, (addr & ((1 << SHIFT) - 1)) as usize);
        let b =
            buf.checked_sub(1).and_then(|i| self.bufs.get_mut(i)).ok_or_else(|| format!("global access at {addr:#x}: no such buffer"))?;
        let size = b.len();
        off.checked_add(len)
            .and_then(|end| b.get_mut(off..end))
            .ok_or_else(|| format!("out of bounds: bytes {off}..{} of buffer {buf} ({size} bytes)", off + len))
    }

    fn exec(&mut self, inst: &Inst, t: &mut Thread) -> Result<(), String> {
        let ops = &inst.ops;
        let arg = |i: usize| ops.get(i).ok_or_else(|| "missing operand".to_string());
        match inst.op {
            Op::LdParam => {
                let Opnd::Mem(Base::Param(p), 0) = arg(1)? else { return Err("parameter operand".into()) };
                let v = self.params[*p];
                Self::set(t, arg(0)?, v, 64)?;
            }
            Op::Cvta => {
                let v = self.get(t, arg(1)?)?;
                Self::set(t, arg(0)?, v, 64)?;
            }
            Op::Mov(ty) => {
                let w = ty.bits();
                match (arg(0)?, arg(1)?) {
                    (Opnd::Vec(d), src) => {
                        let v = self.get(t, src)?;
                        let ew = w / d.len() as u32;
                        for (i, r) in d.iter().enumerate() {
                            t.regs[*r as usize] = mask(v >> (ew * i as u32), ew);
                        }
                    }
                    (dst, Opnd::Vec(s)) => {
                        let ew = w / s.len() as u32;
                        let v = s.iter().enumerate().fold(0u64, |acc, (i, r)| acc | mask(t.regs[*r as usize], ew) << (ew * i as u32));
                        Self::set(t, dst, v, w)?;
                    }
                    (dst, src) => {
                        let v = self.get(t, src)?;
                        Self::set(t, dst, v, w)?;
                    }
                }
            }
            Op::Ld { shared, n, ty } => {
                let size = (ty.bits() / 8) as usize;
                let addr = self.addr(t, arg(1)?, shared)?;
                let dst: Vec<u16> = match arg(0)? {
                    Opnd::Vec(v) if v.len() == n as usize => v.clone(),
                    Opnd::Reg(r) if n == 1 => vec![*r],
                    _ => return Err("destination".into()),
                };
                if !shared {
                    self.record(t, false, addr, size * n as usize);
                }
                let bytes = self.bytes(shared, addr, size * n as usize)?;
                let vals: Vec<u64> = bytes.chunks(size).map(|c| c.iter().rev().fold(0u64, |a, b| a << 8 | *b as u64)).collect();
                for (r, v) in dst.iter().zip(vals) {
                    t.regs[*r as usize] = v;
                }
            }
            Op::St { shared, n, ty } => {
                let size = (ty.bits() / 8) as usize;
                let addr = self.addr(t, arg(0)?, shared)?;
                let vals: Vec<u64> = match arg(1)? {
                    Opnd::Vec(v) if v.len() == n as usize => v.iter().map(|r| t.regs[*r as usize]).collect(),
                    o if n == 1 => vec![self.get(t, o)?],
                    _ => return Err("source".into()),
                };
                if !shared {
                    self.record(t, true, addr, size * n as usize);
                }
                let bytes = self.bytes(shared, addr, size * n as usize)?;
                for (c, v) in bytes.chunks_mut(size).zip(vals) {
                    c.copy_from_slice(&v.to_le_bytes()[..size]);
                }
            }
            Op::AtomMax(ty) => {
                let addr = self.addr(t, arg(1)?, false)?;
                let b = self.get(t, arg(2)?)?;
                self.record(t, true, addr, 4);
                let cell = self.bytes(false, addr, 4)?;
                let old = u32::from_le_bytes([cell[0], cell[1], cell[2], cell[3]]) as u64;
                let new = int_bin(Bin::Max, ty, old, b)?;
                cell.copy_from_slice(&(new as u32).to_le_bytes());
                Self::set(t, arg(0)?, old, 32)?;
            }
            Op::Cvt { dst, src, rni } => {
                let a = self.get(t, arg(1)?)?;
                let v = match (dst, src) {
                    (Ty::F32, Ty::Bf16) => bits(bf16_to_f32(a)),
                    (Ty::F32, Ty::F16) => bits(f16_to_f32(a)),
                    (Ty::Bf16x2 | Ty::F16x2 | Ty::E4m3x2, Ty::F32) => {
                        // `a` goes to the upper half, `b` to the lower.
                        let b = self.get(t, arg(2)?)?;
                        let one = |v: u64| match dst {
                            Ty::Bf16x2 => half::bf16::from_f32(f(v)).to_bits() as u64,
                            Ty::F16x2 => half::f16::from_f32(f(v)).to_bits() as u64,
                            _ => e4m3_satfinite(f(v)),
                        };
                        let hw = dst.bits() / 2;
                        one(a) << hw | one(b)
                    }
                    (Ty::Bf16, Ty::F32) => half::bf16::from_f32(f(a)).to_bits() as u64,
                    (Ty::F16, Ty::F32) => half::f16::from_f32(f(a)).to_bits() as u64,
                    (Ty::S32, Ty::F32) if rni => {
                        let x = f(a);
                        if x.is_nan() { 0 } else { x.round_ties_even().clamp(i32::MIN as f32, i32::MAX as f32) as i32 as u32 as u64 }
                    }
                    (Ty::S8, Ty::F32) => {
                        // `cvt.rni.sat.s8.f32`: NaN to 0, saturated to [-128, 127],
                        // sign-extended into the (wider) destination register.
                        let x = f(a);
                        let q = if x.is_nan() { 0 } else { x.round_ties_even().clamp(-128.0, 127.0) as i64 };
                        Self::set(t, arg(0)?, q as u64, 64)?;
                        return Ok(());
                    }
                    (Ty::F32, Ty::S32) => bits(sext(a, 32) as f32),
                    (Ty::F32, Ty::U32) => bits(mask(a, 32) as f32),
                    (d, s) if d.int() && s.int() => {
                        let v = if s.signed() { sext(a, s.bits()) as u64 } else { mask(a, s.bits()) };
                        mask(v, d.bits())
                    }
                    _ => return Err("conversion".into()),
                };
                Self::set(t, arg(0)?, v, dst.bits())?;
            }
            Op::Bin(op, ty) => {
                let (a, b) = (self.get(t, arg(1)?)?, self.get(t, arg(2)?)?);
                let v = match ty {
                    Ty::F32 => {
                        // The three-input max/min (sm_100+) folds its third.
                        let c = match ops.get(3) {
                            Some(o) => Some(f(self.get(t, o)?)),
                            None => None,
                        };
                        bits(match op {
                            Bin::Div => f(a) / f(b),
                            Bin::Max => c.map_or(f(a).max(f(b)), |c| f(a).max(f(b)).max(c)),
                            Bin::Min => c.map_or(f(a).min(f(b)), |c| f(a).min(f(b)).min(c)),
                            _ => lane_arith(op, f(a), f(b))?,
                        })
                    }
                    Ty::Bf16x2 | Ty::F16x2 => {
                        let bf = ty == Ty::Bf16x2;
                        half_lane(a >> 16 & 0xffff, b >> 16 & 0xffff, op, bf)? << 16 | half_lane(a & 0xffff, b & 0xffff, op, bf)?
                    }
                    Ty::Bf16 | Ty::F16 => half_lane(a & 0xffff, b & 0xffff, op, ty == Ty::Bf16)?,
                    Ty::F32x2 => bits(lane_arith(op, f(a >> 32), f(b >> 32))?) << 32 | bits(lane_arith(op, f(a), f(b))?),
                    _ => int_bin(op, ty, a, b)?,
                };
                Self::set(t, arg(0)?, v, ty.bits())?;
            }
            Op::MulWide(ty) => {
                let (a, b) = (self.get(t, arg(1)?)?, self.get(t, arg(2)?)?);
                let v = if ty.signed() { (sext(a, 32) * sext(b, 32)) as u64 } else { mask(a, 32) * mask(b, 32) };
                Self::set(t, arg(0)?, v, 64)?;
            }
            Op::MulHi(ty) => {
                // The high half of the double-width product.
                let (a, b) = (self.get(t, arg(1)?)?, self.get(t, arg(2)?)?);
                let (v, width) = match ty {
                    Ty::S32 => (((sext(a, 32) * sext(b, 32)) >> 32) as u64, 32),
                    Ty::U32 => ((mask(a, 32) * mask(b, 32)) >> 32, 32),
                    Ty::S64 => (((a as i64 as i128 * b as i64 as i128) >> 64) as u64, 64),
                    _ => (((a as u128 * b as u128) >> 64) as u64, 64),
                };
                Self::set(t, arg(0)?, v, width)?;
            }
            Op::Fma(ty) => {
                let (a, b, c) = (self.get(t, arg(1)?)?, self.get(t, arg(2)?)?, self.get(t, arg(3)?)?);
                let v = match ty {
                    Ty::F32 => bits(f(a).mul_add(f(b), f(c))),
                    Ty::F32x2 => bits(f(a >> 32).mul_add(f(b >> 32), f(c >> 32))) << 32 | bits(f(a).mul_add(f(b), f(c))),
                    _ => {
                        let bf = ty == Ty::Bf16x2;
                        fma_lane(a >> 16 & 0xffff, b >> 16 & 0xffff, c >> 16 & 0xffff, bf) << 16
                            | fma_lane(a & 0xffff, b & 0xffff, c & 0xffff, bf)
                    }
                };
                Self::set(t, arg(0)?, v, ty.bits())?;
            }
            Op::MadLo(ty) => {
                let (a, b, c) = (self.get(t, arg(1)?)?, self.get(t, arg(2)?)?, self.get(t, arg(3)?)?);
                Self::set(t, arg(0)?, a.wrapping_mul(b).wrapping_add(c), ty.bits())?;
            }
            Op::Un(op, ty) => {
                let a = self.get(t, arg(1)?)?;
                let v = match (op, ty) {
                    (Un::Neg, Ty::F32) => a ^ 0x8000_0000,
                    (Un::Neg, _) => a.wrapping_neg(),
                    (Un::Not, _) => !a,
                    (Un::Abs, Ty::Bf16x2 | Ty::F16x2) => a & 0x7fff_7fff,
                    (Un::Abs, _) => a & 0x7fff_ffff,
                    (Un::Rcp, _) => bits(1.0 / f(a)),
                    (Un::RcpApproxFtz, _) => {
                        let ftz = |v: f32| if v.is_subnormal() { 0.0f32.copysign(v) } else { v };
                        bits(ftz(1.0 / ftz(f(a))))
                    }
                    (Un::Rsqrt, _) => bits((1.0 / (f(a) as f64).sqrt()) as f32),
                    (Un::Ex2, _) => bits((f(a) as f64).exp2() as f32),
                };
                Self::set(t, arg(0)?, v, ty.bits())?;
            }
            Op::Setp(cmp, ty @ (Ty::F16x2 | Ty::Bf16x2)) => {
                // `p|q`: p compares the low halves (element 0), q the high ones.
                let (a, b) = (self.get(t, arg(1)?)?, self.get(t, arg(2)?)?);
                let lane = if ty == Ty::F16x2 { Ty::F16 } else { Ty::Bf16 };
                let Opnd::RegPred(p, q) = arg(0)? else { return Err("a packed compare writes `p|q`".into()) };
                t.regs[*p as usize] = compare(cmp, lane, a & 0xffff, b & 0xffff) as u64;
                t.regs[*q as usize] = compare(cmp, lane, a >> 16 & 0xffff, b >> 16 & 0xffff) as u64;
            }
            Op::Setp(cmp, ty) => {
                let (a, b) = (self.get(t, arg(1)?)?, self.get(t, arg(2)?)?);
                Self::set(t, arg(0)?, compare(cmp, ty, a, b) as u64, 1)?;
            }
            Op::Selp => {
                let p = self.get(t, arg(3)?)?;
                let v = if p != 0 { self.get(t, arg(1)?)? } else { self.get(t, arg(2)?)? };
                Self::set(t, arg(0)?, v, 64)?;
            }
            Op::Prmt => {
                let (a, b, c) = (self.get(t, arg(1)?)?, self.get(t, arg(2)?)?, self.get(t, arg(3)?)?);
                let src = mask(a, 32) | mask(b, 32) << 32;
                let mut v = 0u64;
                for i in 0..4 {
                    let sel = (c >> (4 * i)) & 0xf;
                    let mut byte = (src >> (8 * (sel & 7))) & 0xff;
                    if sel & 8 != 0 {
                        byte = if byte & 0x80 != 0 { 0xff } else { 0 };
                    }
                    v |= byte << (8 * i);
                }
                Self::set(t, arg(0)?, v, 32)?;
            }
            Op::Bfe(ty) => {
                // PTX: pos and len are the low bytes of their operands; the field's bits past
                // bit 31 of `a` are a's sign (s32) or 0 (u32), and so is the result above the field.
                let (a, pos, len) = (mask(self.get(t, arg(1)?)?, 32), self.get(t, arg(2)?)? & 0xff, self.get(t, arg(3)?)? & 0xff);
                let bit = |i: u64| {
                    if i < 32 {
                        (a >> i) & 1
                    } else if ty.signed() {
                        (a >> 31) & 1
                    } else {
                        0
                    }
                };
                let mut v = 0u64;
                for i in 0..len.min(32) {
                    v |= bit(pos + i) << i;
                }
                if ty.signed() && len > 0 && len < 32 && bit(pos + len - 1) == 1 {
                    v |= u64::MAX << len;
                }
                Self::set(t, arg(0)?, mask(v, 32), 32)?;
            }
            Op::ShflBfly | Op::Bar | Op::Bra | Op::Ret => return Err("control flow in exec".into()),
        }
        Ok(())
    }
}
