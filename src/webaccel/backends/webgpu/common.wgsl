// Math shared by the generated kernels (prepended to them by the kernel families: kernels/shader.py).
//
// Why not WGSL's builtins alone: WGSL leaves NaN/inf behaviour of max/min/log/sqrt/tanh to the
// implementation and rejects non-finite *constant* expressions, while webaccel promises NumPy's
// NaN/inf propagation. NaN tests use the bit pattern so a fast-math compiler cannot fold them,
// and the special values come from private variables (runtime values, not const-expressions).
// Signed zeros: compilers fold with the sign of zero as insignificant (SwiftShader and lavapipe
// turned x * 0.0 and a constant -0.0 into +0.0), so a zero whose sign matters is made from bits
// of a run-time value, never a constant (and expr.py's constants come from a uniform).
// The IEEE edge cases these functions must meet: tests/browser/ieee_cases.py.
var<private> NAN_BITS: u32 = 0x7fc00000u;
var<private> INF_BITS: u32 = 0x7f800000u;

fn wa_nan() -> f32 { return bitcast<f32>(NAN_BITS); }
fn wa_inf() -> f32 { return bitcast<f32>(INF_BITS); }
fn wa_isnan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn wa_isinf(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }

// NumPy's maximum / minimum: NaN wins, and a tie (+0.0 against -0.0) gives b, as NumPy's does
// (the builtins may return either zero).
fn wa_max(a: f32, b: f32) -> f32 {
  if (wa_isnan(a)) { return a; }
  if (wa_isnan(b)) { return b; }
  return select(b, a, a > b);
}

fn wa_min(a: f32, b: f32) -> f32 {
  if (wa_isnan(a)) { return a; }
  if (wa_isnan(b)) { return b; }
  return select(b, a, a < b);
}

fn wa_exp(x: f32) -> f32 {
  if (wa_isnan(x)) { return x; }
  if (x > 88.72283935546875) { return wa_inf(); }
  if (x < -103.97283935546875) { return 0.0; }
  return exp(x);
}

fn wa_log(x: f32) -> f32 {
  if (wa_isnan(x)) { return x; }
  if (x < 0.0) { return wa_nan(); }
  if (x == 0.0) { return -wa_inf(); }
  if (wa_isinf(x)) { return x; }
  return log(x);
}

fn wa_sqrt(x: f32) -> f32 {
  if (wa_isnan(x)) { return x; }
  if (x < 0.0) { return wa_nan(); }
  if (wa_isinf(x) || x == 0.0) { return x; }  // sqrt(-0.0) is -0.0
  return sqrt(x);
}

fn wa_rsqrt(x: f32) -> f32 {
  if (x == 0.0) { return select(wa_inf(), -wa_inf(), bitcast<u32>(x) != 0u); }
  return 1.0 / wa_sqrt(x);
}

// Cephes tanhf: a minimax polynomial near 0, 1 - 2 / (exp(2|x|) + 1) beyond (saturates to
// +-1 for large |x| instead of inf / inf = NaN). Below 2^-12, tanh(x) is x in f32 (the cubic
// term is under half an ulp): that also keeps -0.0, which the polynomial's sum would lose.
fn wa_tanh(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.000244140625) { return x; }
  if (a >= 0.625) {
    let r = 1.0 - 2.0 / (wa_exp(2.0 * a) + 1.0);
    return select(r, -r, x < 0.0);
  }
  let z = x * x;
  let p = (((-5.70498872745e-3 * z + 2.06390887954e-2) * z - 5.37397155531e-2) * z
    + 1.33314422036e-1) * z - 3.33332819422e-1;
  return p * z * x + x;
}

fn wa_sigmoid(x: f32) -> f32 {
  if (x >= 0.0) { return 1.0 / (1.0 + wa_exp(-x)); }
  let e = wa_exp(x);
  return e / (1.0 + e);
}

// erf with max abs error ~1e-7 over f32 (N. Juffa's erff: two minimax pieces, < 1 ulp).
fn wa_erf(x: f32) -> f32 {
  if (wa_isnan(x)) { return x; }
  let t = min(abs(x), 10.0);
  let s = x * x;
  if (t > 0.927734375) {
    var r = fma(-1.72853470e-5, t, 3.83197126e-4);
    let u = fma(-3.88396438e-3, t, 2.42546219e-2);
    r = fma(r, t * t, u);
    r = fma(r, t, -1.06777877e-1);
    r = fma(r, t, -6.34846687e-1);
    r = fma(r, t, -1.28717512e-1);
    r = fma(r, t, -t);
    let v = 1.0 - exp(r);
    return select(v, -v, x < 0.0);
  }
  var r = -5.96761703e-4;
  r = fma(r, s, 4.99119423e-3);
  r = fma(r, s, -2.67681349e-2);
  r = fma(r, s, 1.12819925e-1);
  r = fma(r, s, -3.76125336e-1);
  r = fma(r, s, 1.28379166e-1);
  return fma(r, x, x);
}

// gelu(x) = 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x erfc(-x / sqrt 2): the erfc form for x < 0,
// where 1 + erf cancels (gelu(-12) is about -2e-32, a normal float).
fn wa_gelu(x: f32) -> f32 {
  if (x < -0.5) { return wa_gelu_neg(x); }
  return 0.5 * x * (1.0 + wa_erf(x * 0.7071067811865476));
}

// exp(a) for an exact a <= 0 to ~1 ulp at large |a| (the builtin's error grows with |a|):
// Cody-Waite reduction a = n ln2 + r (ln2 split so n * LN2_HI is exact), exp(r) * 2^n.
fn wa_exp_reduced(a: f32) -> f32 {
  let n = round(a * 1.4426950408889634);
  let r = (a - n * 0.693145751953125) - n * 1.4286068202862268e-6;
  return ldexp(exp(r), i32(n));
}

// 0.5 x erfc(u), u = -x / sqrt 2 > 0, with Numerical Recipes' erfcc (relative error < 1.2e-7):
// erfc(u) = t exp(-u^2 + P(t)), t = 1 / (1 + u / 2). u^2 = x^2 / 2 is formed without rounding
// (x = xh + xl, xh of 12 significant bits: xh^2 exact) so exp(-u^2) keeps its relative
// precision down to where the result underflows.
fn wa_gelu_neg(x: f32) -> f32 {
  // |result| < 1e-45: -0.0, and -inf * erfc(inf) = -inf * 0 = NaN, as the written formula
  // gives. The -0.0 is x's sign bit at run time: compilers turned x * 0.0, and a constant -0.0
  // through a select, into +0.0 (SwiftShader, lavapipe).
  if (x < -14.5) {
    if (wa_isinf(x)) { return wa_nan(); }
    return bitcast<f32>(bitcast<u32>(x) & 0x80000000u);
  }
  let ax = -x;
  let u = ax * 0.7071067811865476;
  let t = 1.0 / (1.0 + 0.5 * u);
  let p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
    + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223
    + t * 0.17087277))))))));
  let xh = bitcast<f32>(bitcast<u32>(ax) & 0xfffff000u);
  let xl = ax - xh;
  let small = p - 0.5 * xl * (ax + xh);
  return (0.5 * x * t * exp(small)) * wa_exp_reduced(-0.5 * (xh * xh));
}

fn wa_gelu_tanh(x: f32) -> f32 {
  return 0.5 * x * (1.0 + wa_tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

// NumPy's float power of two arrays (C99 pow): x ** 0 and 1 ** y are 1 even for NaN; 0 ** y < 0
// is inf; a negative base (-0.0 and -inf included) gives its sign to odd integer powers; a
// finite negative base to a non-integral power is NaN, but (-0.0) ** 0.5 is +0.0 and
// (-inf) ** 0.5 is +inf. (NumPy computes array ** scalar 0.5 as sqrt, -0.0 and NaN there:
// expr.py's const_pow does the same for a constant exponent; a 0-d tensor exponent, a scalar
// to NumPy, comes here as an array.)
fn wa_pow(x: f32, y: f32) -> f32 {
  if (y == 0.0 || x == 1.0) { return 1.0; }  // even for a NaN operand, as IEEE and NumPy
  if (wa_isnan(x) || wa_isnan(y)) { return x + y; }
  let ax = abs(x);
  let integral = floor(y) == y;  // infinities count as even integers
  let odd = integral && abs(y) < 16777216.0 && (i32(abs(y)) & 1) == 1;
  var r: f32;
  if (ax == 0.0 || wa_isinf(ax)) {
    r = select(0.0, wa_inf(), (y < 0.0) == (ax == 0.0));
  } else if (wa_isinf(y)) {
    r = select(0.0, wa_inf(), (ax > 1.0) == (y > 0.0));
    if (ax == 1.0) { r = 1.0; }
  } else {
    if (x < 0.0 && !integral) { return wa_nan(); }
    r = wa_pow_finite(ax, y);
  }
  // r >= 0; the sign goes on as a bit (a compiler may drop the sign of a negated constant 0)
  let sign = select(0u, 0x80000000u, odd && bitcast<u32>(x) >= 0x80000000u);
  return bitcast<f32>(bitcast<u32>(r) | sign);
}

// ax ** y for a finite ax > 0 and a finite y: small integral powers by multiplication (x ** 2
// rounds once, as NumPy's; exp2(y log2 x) errs by up to (3 + 2|y log2 x|) ulp), halves by sqrt.
fn wa_pow_finite(ax: f32, y: f32) -> f32 {
  if (floor(y) == y && abs(y) <= 4.0) {
    let b = select(ax, 1.0 / ax, y < 0.0);  // (1 / x) ** n: no early underflow of x ** n
    var r = b;
    for (var k = 1.0; k < abs(y); k = k + 1.0) { r = r * b; }
    return r;
  }
  if (abs(y) == 0.5) { return select(sqrt(ax), 1.0 / sqrt(ax), y < 0.0); }
  return wa_exp2_log2(ax, y);
}

fn wa_exp2_log2(ax: f32, y: f32) -> f32 {
  let l = y * log2(ax);
  if (l > 128.0) { return wa_inf(); }
  if (l < -150.0) { return 0.0; }
  return exp2(l);
}

// A power of two that brings a > 2^40 down to about 2^20 (1 otherwise, NaN and inf too), so
// that squares of values up to a sum without overflow (rows.py's norms). Scaling by it is exact
// and keeps it a normal float (2^-107 at the least).
fn wa_scale_for_squares(a: f32) -> f32 {
  if (!(a > 1099511627776.0) || wa_isinf(a)) { return 1.0; }
  return bitcast<f32>((274u - (bitcast<u32>(a) >> 23u)) << 23u);
}

fn wa_ipow(x: i32, y: i32) -> i32 {
  if (y < 0) {  // NumPy raises here; 1 and -1 are the only bases with an integral answer
    if (x == 1) { return 1; }
    if (x == -1) { return select(1, -1, (y & 1) == 1); }
    return 0;
  }
  var r = 1;
  var b = x;
  var e = y;
  loop {
    if (e == 0) { break; }
    if ((e & 1) == 1) { r = r * b; }
    b = b * b;
    e = e >> 1u;
  }
  return r;
}

// max(x, 0) keeping NaN, decided on the bits: on NVIDIA (Vulkan) select(x, 0, x < 0) gave 0 for
// NaN, as a NaN-dropping max would. -0.0 becomes +0.0 (equal to NumPy's -0.0 as a value).
fn wa_relu(x: f32) -> f32 {
  let u = bitcast<u32>(x);
  return select(x, 0.0, u >= 0x80000000u && (u & 0x7fffffffu) <= 0x7f800000u);
}

// a / b, also right for |b| > 2^126: WGSL's division needs only be accurate for |b| within
// [2^-126, 2^126], and on NVIDIA 3e38 / 3e38 gave 0 (as a * (1 / b) with 1 / b flushed would).
fn wa_div(a: f32, b: f32) -> f32 {
  if (abs(b) > 8.507059e37) { return (a * 0.25) / (b * 0.25); }
  return a / b;
}

// float -> int32 as NumPy's astype on finite values (toward zero). NaN, +-inf and values out
// of int32's range are IEEE invalid operations (NumPy gives INT_MIN with a warning): here NaN
// gives 0 and the others saturate to the int32 limits (WGSL's i32() clamps in f32, so to
// 2147483520 at the top: pinned here).
fn wa_to_i32(x: f32) -> i32 {
  if (wa_isnan(x)) { return 0i; }
  if (x >= 2147483648.0) { return 2147483647i; }
  if (x < -2147483648.0) { return bitcast<i32>(0x80000000u); }
  return i32(x);
}

fn wa_sign(x: f32) -> f32 {
  if (wa_isnan(x)) { return x; }
  return sign(x);
}

fn wa_round(x: f32) -> f32 {  // round half to even, as NumPy
  return round(x);
}

// ONNX / C integer division: truncates toward zero; x / 0 gives 0 (as the CPU backend) and
// INT_MIN / -1 wraps to INT_MIN (what int32 arithmetic gives), where WGSL's / is undefined-ish.
fn wa_idiv(a: i32, b: i32) -> i32 {
  if (b == 0) { return 0; }
  if (b == -1) { return 0 - a; }
  return a / b;
}

fn wa_imod(a: i32, b: i32) -> i32 {  // NumPy's floored modulo; x % 0 gives 0 as NumPy does
  if (b == 0) { return 0; }
  let r = a % b;
  return select(r, r + b, r != 0 && ((r < 0) != (b < 0)));
}

// float16 <-> float32 by the bits (storage is packed two halves per u32 word: no shader-f16).
// Not WGSL's unpack2x16float / pack2x16float: they leave values outside f16's finite range
// indeterminate (on SwiftShader inf became NaN and the other half of the word changed) and need
// not round to nearest even. These are IEEE: f16 -> f32 exactly (subnormals, +-inf, -0.0, NaN);
// f32 -> f16 to nearest even, +-inf from 65520 up, subnormal results, -0.0 and NaN kept.
fn wa_half_to_f32(h: u32) -> f32 {
  let sign = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0x1fu) { return bitcast<f32>(sign | 0x7f800000u | (m << 13u)); }
  if (e == 0u) { return bitcast<f32>(sign | bitcast<u32>(f32(m) * 5.9604644775390625e-8)); }
  return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u));
}

fn wa_f32_to_half(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  let sign = (b >> 16u) & 0x8000u;
  let a = b & 0x7fffffffu;
  if (a > 0x7f800000u) { return sign | 0x7e00u | ((a >> 13u) & 0x3ffu); }  // NaN, quiet
  if (a >= 0x477ff000u) { return sign | 0x7c00u; }  // 65520 and up round to inf
  if (a >= 0x38800000u) {  // a normal half: rebias the exponent, round off 13 bits to even
    let r = a - 0x38000000u;
    return sign | ((r + 0xfffu + ((r >> 13u) & 1u)) >> 13u);
  }
  let e = a >> 23u;
  if (e < 102u) { return sign; }  // below 2^-25: rounds to a signed zero
  // a subnormal half: the significand in units of 2^-24, rounded to nearest even
  let m = (a & 0x7fffffu) | 0x800000u;
  let s = 126u - e;  // 14 ..= 24
  let q = m >> s;
  let rest = m & ((1u << s) - 1u);
  let half = 1u << (s - 1u);
  return sign | (q + select(0u, 1u, rest > half || (rest == half && (q & 1u) == 1u)));
}

// x rounded to float16 and back: a cast to float16 inside an f32 computation (kernels/expr.py).
fn wa_round_half(x: f32) -> f32 {
  return wa_half_to_f32(wa_f32_to_half(x));
}

// Element i of a packed float16 array, as f32.
fn wa_half_at(word: u32, i: u32) -> f32 {
  return wa_half_to_f32((word >> ((i & 1u) << 4u)) & 0xffffu);
}
