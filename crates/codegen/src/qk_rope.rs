//! `fused_qk_norm_rope` (vLLM main's kernel, after TensorRT-LLM's): in place
//! on packed `qkv` rows, each query and key head `x` becomes `x * (s * w)`
//! in f32 (`s = rsqrt(mean(x^2) + eps)`, `w` its norm weight), its first
//! `rot` dims are rotated by its token's cache row `[cos.., sin..]` (`rot`
//! wide; neox: the halves of those dims; GPT-J: neighbouring pairs), and it
//! is rounded once to T. Value heads are not touched. A partial rotary
//! (`rot < dim`, GLM-4's) leaves the other dims normalized only.
//!
//! The GPU form is vLLM's geometry: one warp per (token, head), each lane
//! `D / 32` neighbouring elements (one vector load and store), the sum of
//! squares an xor butterfly, `rsqrt.approx`; a neox partner is in the lane
//! 16 away (`shfl.sync.bfly` by 16), a GPT-J partner in the same lane. A CTA
//! holds `warps` heads of one token, so the grid is the rows times
//! `(Hq + Hk) / warps` (`Kernel::ctas_per_row`). The host twin walks the
//! heads one by one, summing in element order with the exact `1/sqrt`:
//! bit-identical to `interp::kernels::fused_qk_norm_rope`.
use crate::body::{Target, footer};
use std::fmt::Write;

/// A kernel's head layout: `q`, `k`, `v` heads of `dim` per row; the
/// rotation (neox or GPT-J) over the first `rot` dims of each head, the
/// cache `cache_rows` rows of `rot` elements of type `cache`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heads {
    pub q: u64,
    pub k: u64,
    pub v: u64,
    pub dim: u64,
    pub rot: u64,
    pub neox: bool,
    pub cache: &'static str,
    pub cache_rows: u64,
}

impl Heads {
    /// Elements a row holds.
    pub fn row(&self) -> u64 {
        (self.q + self.k + self.v) * self.dim
    }

    /// Warps (heads) per CTA: the most of 8, 4, 2, 1 that divides the heads
    /// a token normalizes, so that no warp is idle.
    pub fn warps(&self) -> u64 {
        [8, 4, 2, 1].into_iter().find(|w| (self.q + self.k).is_multiple_of(*w)).unwrap_or(1)
    }

    /// Elements each lane holds.
    pub fn per_lane(&self) -> u64 {
        self.dim / 32
    }

    /// Whether the kernel is built for this rotary width: the whole head, or
    /// a half or a quarter of it (vLLM's kernel takes any even `rot <= dim`;
    /// here a neox partner must be a power-of-two number of lanes away, a
    /// butterfly shuffle, and a lane's elements on one side of `rot`).
    pub fn rot_supported(&self) -> bool {
        [self.dim, self.dim / 2, self.dim / 4].contains(&self.rot) && (self.rot / 2).is_multiple_of(self.per_lane().max(1))
    }
}

/// The head dims the kernel is built for (vLLM's: each lane an even number
/// of elements, at most 16 bytes).
pub const HEAD_DIMS: [u64; 3] = [64, 128, 256];

const PARAMS: &str = "%qkv: !llvm.ptr, %qw: !llvm.ptr, %kw: !llvm.ptr, %cache: !llvm.ptr, %pos: !llvm.ptr, %eps: f32";

pub fn kernel(name: &str, h: Heads, t: &str, target: Target) -> String {
    match target {
        Target::Gpu => gpu(name, h, t),
        Target::Cpu => host(name, h, t),
    }
}

fn gpu(name: &str, h: Heads, t: &str) -> String {
    let (e, d, c) = (h.per_lane(), h.dim, h.cache);
    let mut k = format!(
        r#"    gpu.func @{name}({PARAMS}) kernel {{
      %bid = gpu.block_id x
      %tid = gpu.thread_id x
      %c32 = arith.constant 32 : index
      %cw = arith.constant {warps} : index
      %cq = arith.constant {q} : index
      %cn = arith.constant {n} : index
      %cd = arith.constant {d} : index
      %ce = arith.constant {e} : index
      %lane = arith.remui %tid, %c32 : index
      %warp = arith.divui %tid, %c32 : index
      %wb = arith.muli %bid, %cw : index
      %g = arith.addi %wb, %warp : index
      %g32 = arith.index_castui %g : index to i32
      %cqk32 = arith.constant {qk} : i32
      %tok32 = arith.divui %g32, %cqk32 : i32
      %head32 = arith.remui %g32, %cqk32 : i32
      %tok = arith.index_castui %tok32 : i32 to index
      %head = arith.index_castui %head32 : i32 to index
      %rowoff = arith.muli %tok, %cn : index
      %hoff = arith.muli %head, %cd : index
      %loff = arith.muli %lane, %ce : index
      %o1 = arith.addi %rowoff, %hoff : index
      %off = arith.addi %o1, %loff : index
      %off64 = arith.index_cast %off : index to i64
      %loff64 = arith.index_cast %loff : index to i64
      %tok64 = arith.index_cast %tok : index to i64
      %px = llvm.getelementptr %qkv[%off64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}
      %vx = llvm.load %px {{alignment = {al} : i64}} : !llvm.ptr -> vector<{e}x{t}>
      %isq = arith.cmpi ult, %head, %cq : index
      %wp = arith.select %isq, %qw, %kw : !llvm.ptr
      %pw = llvm.getelementptr %wp[%loff64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}
      %vw = llvm.load %pw {{alignment = {al} : i64}} : !llvm.ptr -> vector<{e}x{t}>
      %pp = llvm.getelementptr %pos[%tok64] : (!llvm.ptr, i64) -> !llvm.ptr, i64
      %p = llvm.load %pp {{alignment = 8 : i64}} : !llvm.ptr -> i64
      %cr64 = arith.constant {r} : i64
      %crow = arith.muli %p, %cr64 : i64
      %x = arith.extf %vx : vector<{e}x{t}> to vector<{e}xf32>
      %sq = arith.mulf %x, %x : vector<{e}xf32>
      %part = vector.reduction <add>, %sq : vector<{e}xf32> into f32
      %w32 = arith.constant 32 : i32
"#,
        warps = h.warps(),
        qk = h.q + h.k,
        q = h.q,
        n = h.row(),
        al = 2 * e,
        r = h.rot,
    );
    // The head's sum of squares in every lane: an xor butterfly over the warp.
    let mut prev = "%part".to_string();
    for off in [16, 8, 4, 2, 1] {
        let _ = writeln!(
            k,
            "      %so{off} = arith.constant {off} : i32\n      %sx{off}, %sk{off} = gpu.shuffle xor {prev}, %so{off}, %w32 : f32\n      %ss{off} = arith.addf {prev}, %sx{off} : f32"
        );
        prev = format!("%ss{off}");
    }
    let _ = write!(
        k,
        r#"      %df = arith.constant {d}.0 : f32
      %mean = arith.divf {prev}, %df : f32
      %me = arith.addf %mean, %eps : f32
      %rs = llvm.call_intrinsic "llvm.nvvm.rsqrt.approx.f"(%me) : (f32) -> f32
      %rsv = vector.broadcast %rs : f32 to vector<{e}xf32>
      %w = arith.extf %vw : vector<{e}x{t}> to vector<{e}xf32>
      %sw = arith.mulf %rsv, %w : vector<{e}xf32>
      %y = arith.mulf %x, %sw : vector<{e}xf32>
"#
    );
    let cache_at = |k: &mut String, tag: &str, first: &str, n: u64| {
        // An f32 cache is loaded as is; a 16-bit one widened.
        let (loaded, widen) = match c {
            "f32" => (tag.to_string(), String::new()),
            _ => (format!("{tag}v"), format!("      %{tag} = arith.extf %{tag}v : vector<{n}x{c}> to vector<{n}xf32>\n")),
        };
        let _ = write!(
            k,
            "      %{tag}64 = arith.index_cast {first} : index to i64\n      %{tag}o = arith.addi %crow, %{tag}64 : i64\n      %{tag}p = llvm.getelementptr %cache[%{tag}o] : (!llvm.ptr, i64) -> !llvm.ptr, {c}\n      %{loaded} = llvm.load %{tag}p {{alignment = {al} : i64}} : !llvm.ptr -> vector<{n}x{c}>\n{widen}",
            al = n * elem_bytes(c)
        );
    };
    // Lanes `0 .. rot / e` hold the rotated dims (all 32 for a whole-head
    // rotary); the others keep `y` (`%rotl`: this lane is one of them).
    let partial = h.rot / e < 32;
    if partial {
        let _ =
            writeln!(k, "      %crot = arith.constant {rl} : index\n      %rotl = arith.cmpi ult, %lane, %crot : index", rl = h.rot / e);
    }
    if h.neox {
        // Lanes 0 .. m-1 hold the first half of the rotated dims, m .. 2m-1
        // the second (m = rot / 2e lanes: 16 for a whole head); the partner
        // of element i of lane l is element i of lane l ^ m, at the same
        // cache offset `(l % m) * e`.
        let m = h.rot / (2 * e);
        let _ = write!(
            k,
            "      %c16 = arith.constant {m} : index\n      %ch = arith.constant {half} : index\n      %pl = arith.remui %lane, %c16 : index\n      %co = arith.muli %pl, %ce : index\n      %so = arith.addi %co, %ch : index\n",
            half = h.rot / 2
        );
        cache_at(&mut k, "cos", "%co", e);
        cache_at(&mut k, "sin", "%so", e);
        let _ = writeln!(k, "      %x16 = arith.constant {m} : i32\n      %pv0 = arith.constant dense<0.0> : vector<{e}xf32>");
        for i in 0..e {
            let _ = writeln!(
                k,
                "      %y{i} = vector.extract %y[{i}] : f32 from vector<{e}xf32>\n      %q{i}, %qk{i} = gpu.shuffle xor %y{i}, %x16, %w32 : f32\n      %pv{n} = vector.insert %q{i}, %pv{i}[{i}] : f32 into vector<{e}xf32>",
                n = i + 1
            );
        }
        // The first half subtracts its partner's term, the second adds it.
        let _ = write!(
            k,
            r#"      %lo = arith.cmpi ult, %lane, %c16 : index
      %pos1 = arith.constant dense<1.0> : vector<{e}xf32>
      %neg1 = arith.constant dense<-1.0> : vector<{e}xf32>
      %sgn = arith.select %lo, %neg1, %pos1 : vector<{e}xf32>
      %pe = arith.mulf %pv{e}, %sgn : vector<{e}xf32>
      %yc = arith.mulf %y, %cos : vector<{e}xf32>
      %ps = arith.mulf %pe, %sin : vector<{e}xf32>
      %out = arith.addf %yc, %ps : vector<{e}xf32>
"#
        );
    } else {
        // GPT-J: lane l's pairs (2j, 2j+1) take cos/sin `l * e/2 + j` (lanes
        // past a partial rotary read the first lane's, in the row, and keep `y`).
        let hl = e / 2;
        let lane = if partial {
            let _ = writeln!(k, "      %c0i = arith.constant 0 : index\n      %rl = arith.select %rotl, %lane, %c0i : index");
            "%rl"
        } else {
            "%lane"
        };
        let _ = write!(
            k,
            "      %chl = arith.constant {hl} : index\n      %ch = arith.constant {half} : index\n      %co = arith.muli {lane}, %chl : index\n      %so = arith.addi %co, %ch : index\n",
            half = h.rot / 2
        );
        cache_at(&mut k, "cos", "%co", hl);
        cache_at(&mut k, "sin", "%so", hl);
        let evens: Vec<String> = (0..hl).map(|j| (2 * j).to_string()).collect();
        let odds: Vec<String> = (0..hl).map(|j| (2 * j + 1).to_string()).collect();
        let zip: Vec<String> = (0..hl).flat_map(|j| [j.to_string(), (hl + j).to_string()]).collect();
        let _ = write!(
            k,
            r#"      %ya = vector.shuffle %y, %y [{ev}] : vector<{e}xf32>, vector<{e}xf32>
      %yb = vector.shuffle %y, %y [{od}] : vector<{e}xf32>, vector<{e}xf32>
      %ac = arith.mulf %ya, %cos : vector<{hl}xf32>
      %bs = arith.mulf %yb, %sin : vector<{hl}xf32>
      %oa = arith.subf %ac, %bs : vector<{hl}xf32>
      %bc = arith.mulf %yb, %cos : vector<{hl}xf32>
      %as = arith.mulf %ya, %sin : vector<{hl}xf32>
      %ob = arith.addf %bc, %as : vector<{hl}xf32>
      %out = vector.shuffle %oa, %ob [{zi}] : vector<{hl}xf32>, vector<{hl}xf32>
"#,
            ev = evens.join(", "),
            od = odds.join(", "),
            zi = zip.join(", ")
        );
    }
    let out = if partial {
        // A partial rotary: the lanes past it store `y`.
        let _ = writeln!(k, "      %outp = arith.select %rotl, %out, %y : vector<{e}xf32>");
        "%outp"
    } else {
        "%out"
    };
    let _ = write!(
        k,
        "      %ot = arith.truncf {out} : vector<{e}xf32> to vector<{e}x{t}>\n      llvm.store %ot, %px {{alignment = {al} : i64}} : vector<{e}x{t}>, !llvm.ptr\n",
        al = 2 * e
    );
    k.push_str(footer(Target::Gpu));
    k
}

fn elem_bytes(t: &str) -> u64 {
    if t == "f32" { 4 } else { 2 }
}

/// The host twin: rows (tokens) by `%rows`, heads one by one, the sum of
/// squares in element order, then each rotation pair in place (a pair reads
/// only its own two elements), then the dims past a partial rotary.
fn host(name: &str, h: Heads, t: &str) -> String {
    let (d, c) = (h.dim, h.cache);
    let half = h.rot / 2;
    // Element j's partner and the cache offset of its pair.
    let (a, b, ci) = if h.neox { ("%j", "%jh", "%j") } else { ("%j2", "%j21", "%j") };
    let mut k = format!(
        r#"  func.func @{name}({PARAMS}, %rows: index) attributes {{llvm.emit_c_interface}} {{
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c2 = arith.constant 2 : index
      %cqk = arith.constant {qk} : index
      %cq = arith.constant {q} : index
      %cn = arith.constant {n} : index
      %cd = arith.constant {d} : index
      %ch = arith.constant {half} : index
      %zero = arith.constant 0.0 : f32
      %one = arith.constant 1.0 : f32
      %df = arith.constant {d}.0 : f32
      %cd64 = arith.constant {r} : i64
      scf.for %tok = %c0 to %rows step %c1 {{
        %tok64 = arith.index_cast %tok : index to i64
        %pp = llvm.getelementptr %pos[%tok64] : (!llvm.ptr, i64) -> !llvm.ptr, i64
        %p = llvm.load %pp : !llvm.ptr -> i64
        %crow = arith.muli %p, %cd64 : i64
        scf.for %head = %c0 to %cqk step %c1 {{
          %rowoff = arith.muli %tok, %cn : index
          %hoff = arith.muli %head, %cd : index
          %base = arith.addi %rowoff, %hoff : index
          %ss = scf.for %i = %c0 to %cd step %c1 iter_args(%acc = %zero) -> f32 {{
            %xi = arith.addi %base, %i : index
            %xi64 = arith.index_cast %xi : index to i64
            %xp = llvm.getelementptr %qkv[%xi64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}
            %xv = llvm.load %xp : !llvm.ptr -> {t}
            %xf = arith.extf %xv : {t} to f32
            %xx = arith.mulf %xf, %xf : f32
            %acc2 = arith.addf %acc, %xx : f32
            scf.yield %acc2 : f32
          }}
          %mean = arith.divf %ss, %df : f32
          %me = arith.addf %mean, %eps : f32
          %sq = math.sqrt %me : f32
          %s = arith.divf %one, %sq : f32
          %isq = arith.cmpi ult, %head, %cq : index
          %wp = arith.select %isq, %qw, %kw : !llvm.ptr
          scf.for %j = %c0 to %ch step %c1 {{
            %jh = arith.addi %j, %ch : index
            %j2 = arith.muli %j, %c2 : index
            %j21 = arith.addi %j2, %c1 : index
"#,
        qk = h.q + h.k,
        q = h.q,
        n = h.row(),
        r = h.rot,
    );
    // y = x * (s * w) of element `at` (`%p{tag}` its address, `%y{tag}` the value).
    let normalized = |k: &mut String, tag: &str, at: &str| {
        let _ = write!(
            k,
            r#"            %i{tag} = arith.addi %base, {at} : index
            %i{tag}64 = arith.index_cast %i{tag} : index to i64
            %p{tag} = llvm.getelementptr %qkv[%i{tag}64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}
            %v{tag} = llvm.load %p{tag} : !llvm.ptr -> {t}
            %x{tag} = arith.extf %v{tag} : {t} to f32
            %w{tag}64 = arith.index_cast {at} : index to i64
            %pw{tag} = llvm.getelementptr %wp[%w{tag}64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}
            %vw{tag} = llvm.load %pw{tag} : !llvm.ptr -> {t}
            %fw{tag} = arith.extf %vw{tag} : {t} to f32
            %sw{tag} = arith.mulf %s, %fw{tag} : f32
            %y{tag} = arith.mulf %x{tag}, %sw{tag} : f32
"#
        );
    };
    // The pair's two elements.
    normalized(&mut k, "a", a);
    normalized(&mut k, "b", b);
    // An f32 cache is loaded as is; a 16-bit one widened.
    let widen = |v: &str, to: &str| match c {
        "f32" => (to.to_string(), String::new()),
        _ => (v.to_string(), format!("            %{to} = arith.extf %{v} : {c} to f32\n")),
    };
    let ((vc, wc), (vs, ws)) = (widen("vc", "cos"), widen("vs", "sin"));
    let _ = write!(
        k,
        r#"            %c64 = arith.index_cast {ci} : index to i64
            %cof = arith.addi %crow, %c64 : i64
            %pc = llvm.getelementptr %cache[%cof] : (!llvm.ptr, i64) -> !llvm.ptr, {c}
            %{vc} = llvm.load %pc : !llvm.ptr -> {c}
{wc}
            %ch64 = arith.constant {half} : i64
            %sof = arith.addi %cof, %ch64 : i64
            %ps = llvm.getelementptr %cache[%sof] : (!llvm.ptr, i64) -> !llvm.ptr, {c}
            %{vs} = llvm.load %ps : !llvm.ptr -> {c}
{ws}
            %ac = arith.mulf %ya, %cos : f32
            %bs = arith.mulf %yb, %sin : f32
            %oa = arith.subf %ac, %bs : f32
            %bc = arith.mulf %yb, %cos : f32
            %as = arith.mulf %ya, %sin : f32
            %ob = arith.addf %bc, %as : f32
            %ta = arith.truncf %oa : f32 to {t}
            %tb = arith.truncf %ob : f32 to {t}
            llvm.store %ta, %pa : {t}, !llvm.ptr
            llvm.store %tb, %pb : {t}, !llvm.ptr
          }}
"#
    );
    if h.rot < d {
        // The dims past a partial rotary: normalized and rounded only.
        let _ = writeln!(k, "          %crot = arith.constant {r} : index\n          scf.for %i = %crot to %cd step %c1 {{", r = h.rot);
        normalized(&mut k, "r", "%i");
        let _ =
            write!(k, "            %tr = arith.truncf %yr : f32 to {t}\n            llvm.store %tr, %pr : {t}, !llvm.ptr\n          }}\n");
    }
    k.push_str("        }\n      }\n      return\n  }\n");
    k
}
