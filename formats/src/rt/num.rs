//! Overflow-checked arithmetic for spec expressions. Every value read from a
//! file passes through `Num`, so a hostile field can make an expression
//! "undefined" (and the parse or check fail) but never panic or wrap.

/// A number, or `None` once an operation overflowed or divided by zero.
/// Arithmetic and bit operators (`+`, `<<`, `&`, ...) are checked this way;
/// comparisons are methods (`is_lt`, ...) giving a [`Cond`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Num(pub Option<u64>);

/// A truth value, or `None` when it depends on an undefined number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cond(pub Option<bool>);

fn both(a: Num, b: Num, f: impl FnOnce(u64, u64) -> Option<u64>) -> Num {
    Num(match (a.0, b.0) {
        (Some(x), Some(y)) => f(x, y),
        _ => None,
    })
}

fn cmp(a: Num, b: Num, f: impl FnOnce(u64, u64) -> bool) -> Cond {
    Cond(match (a.0, b.0) {
        (Some(x), Some(y)) => Some(f(x, y)),
        _ => None,
    })
}

impl Num {
    pub const fn lit(v: u64) -> Num {
        Num(Some(v))
    }

    /// The value, if defined.
    pub fn get(self) -> Option<u64> {
        self.0
    }

    pub fn min(self, o: Num) -> Num {
        both(self, o, |a, b| Some(a.min(b)))
    }

    pub fn max(self, o: Num) -> Num {
        both(self, o, |a, b| Some(a.max(b)))
    }

    /// `a - b`, or 0 when `b > a`.
    pub fn saturating_sub(self, o: Num) -> Num {
        both(self, o, |a, b| Some(a.saturating_sub(b)))
    }

    pub fn is_eq(self, o: Num) -> Cond {
        cmp(self, o, |a, b| a == b)
    }

    pub fn is_ne(self, o: Num) -> Cond {
        cmp(self, o, |a, b| a != b)
    }

    pub fn is_lt(self, o: Num) -> Cond {
        cmp(self, o, |a, b| a < b)
    }

    pub fn is_le(self, o: Num) -> Cond {
        cmp(self, o, |a, b| a <= b)
    }

    pub fn is_gt(self, o: Num) -> Cond {
        cmp(self, o, |a, b| a > b)
    }

    pub fn is_ge(self, o: Num) -> Cond {
        cmp(self, o, |a, b| a >= b)
    }

    pub fn is_power_of_two(self) -> Cond {
        Cond(self.0.map(u64::is_power_of_two))
    }

    /// `if c { a } else { b }`.
    pub fn select(c: Cond, a: Num, b: Num) -> Num {
        match c.0 {
            Some(true) => a,
            Some(false) => b,
            None => Num(None),
        }
    }
}

/// Implements a binary operator on `Num` with a `u64` operation that gives
/// `None` where the result is undefined.
macro_rules! checked_op {
    ($($(#[$doc:meta])* $trait:ident::$method:ident => $op:expr;)*) => {$(
        $(#[$doc])*
        impl std::ops::$trait for Num {
            type Output = Num;

            #[inline]
            fn $method(self, o: Num) -> Num {
                both(self, o, $op)
            }
        }
    )*};
}

checked_op! {
    Add::add => u64::checked_add;
    Sub::sub => u64::checked_sub;
    Mul::mul => u64::checked_mul;
    /// Undefined on division by zero.
    Div::div => u64::checked_div;
    /// Undefined on division by zero.
    Rem::rem => u64::checked_rem;
    /// Left shift that is undefined when bits would be lost.
    Shl::shl => shl_exact;
    /// Right shift; shifting by 64 or more gives 0.
    Shr::shr => |a, b| Some(if b >= 64 { 0 } else { a >> b });
    BitAnd::bitand => |a, b| Some(a & b);
    BitOr::bitor => |a, b| Some(a | b);
    BitXor::bitxor => |a, b| Some(a ^ b);
}

/// `a << b`, or `None` when bits would be lost.
fn shl_exact(a: u64, b: u64) -> Option<u64> {
    if b >= 64 {
        return if a == 0 { Some(0) } else { None };
    }
    let r = a << b;
    (r >> b == a).then_some(r)
}

impl Cond {
    pub const TRUE: Cond = Cond(Some(true));
    pub const FALSE: Cond = Cond(Some(false));

    pub fn and(self, o: Cond) -> Cond {
        match (self.0, o.0) {
            (Some(false), _) | (_, Some(false)) => Cond::FALSE,
            (Some(true), Some(true)) => Cond::TRUE,
            _ => Cond(None),
        }
    }

    pub fn or(self, o: Cond) -> Cond {
        match (self.0, o.0) {
            (Some(true), _) | (_, Some(true)) => Cond::TRUE,
            (Some(false), Some(false)) => Cond::FALSE,
            _ => Cond(None),
        }
    }

    /// True only when defined and true.
    pub fn holds(self) -> bool {
        self.0 == Some(true)
    }
}

impl std::ops::Not for Cond {
    type Output = Cond;

    #[inline]
    fn not(self) -> Cond {
        Cond(self.0.map(|b| !b))
    }
}

/// Types whose values can take part in spec expressions.
pub trait AsNum {
    fn as_num(&self) -> u64;
}

macro_rules! as_num_int {
    ($($t:ty),*) => {$(
        impl AsNum for $t {
            #[inline]
            fn as_num(&self) -> u64 {
                *self as u64
            }
        }
    )*};
}
as_num_int!(u8, u16, u32, u64, i8, i16, i32, i64);

impl AsNum for bool {
    fn as_num(&self) -> u64 {
        *self as u64
    }
}

impl<T: AsNum + ?Sized> AsNum for &T {
    #[inline]
    fn as_num(&self) -> u64 {
        (**self).as_num()
    }
}

/// Lifts a field value into an expression.
#[inline]
pub fn num(v: impl AsNum) -> Num {
    Num(Some(v.as_num()))
}

/// Builds a field value from a constant (defaults of absent fields).
pub trait FromNum {
    fn from_num(v: u64) -> Self;
}

macro_rules! from_num_int {
    ($($t:ty),*) => {$(
        impl FromNum for $t {
            #[inline]
            fn from_num(v: u64) -> Self {
                v as $t
            }
        }
    )*};
}
from_num_int!(u8, u16, u32, u64, i8, i16, i32, i64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_is_undefined_not_a_panic() {
        assert_eq!(Num::lit(u64::MAX) + Num::lit(1), Num(None));
        assert_eq!(Num::lit(1) << Num::lit(64), Num(None));
        assert_eq!(Num::lit(0) << Num::lit(64), Num::lit(0));
        assert_eq!(Num::lit(3) << Num::lit(63), Num(None));
        assert_eq!(Num::lit(1) << Num::lit(63), Num::lit(1 << 63));
        assert_eq!(Num::lit(1) >> Num::lit(64), Num::lit(0));
        assert_eq!(Num::lit(5) / Num::lit(0), Num(None));
        assert_eq!(Num::lit(5) % Num::lit(0), Num(None));
        assert_eq!(Num::lit(5) - Num::lit(6), Num(None));
        assert!(!Num(None).is_eq(Num::lit(0)).holds());
        assert!(Cond(None).or(Cond::TRUE).holds());
        assert!(!Cond(None).and(Cond::TRUE).holds());
        assert!(!(!Cond(None)).holds());
        assert!((!Cond::FALSE).holds());
    }
}
