//! The spec expression language: integer arithmetic and comparisons over earlier
//! fields, parameters, other structures' fields (`Header.l1_size`) and the file
//! length (`end`). Expressions are parsed from `syn::Expr`, checked, rendered as
//! text for layout tables, and emitted as overflow-checked Rust (`rt::Num`).

use crate::diag::{bail, Result};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::spanned::Spanned;

/// A binary operator of the expression language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Shl,
    Shr,
    BitAnd,
    BitOr,
    BitXor,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinOp {
    fn symbol(self) -> &'static str {
        use BinOp::*;
        match self {
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            Rem => "%",
            Shl => "<<",
            Shr => ">>",
            BitAnd => "&",
            BitOr => "|",
            BitXor => "^",
            Eq => "==",
            Ne => "!=",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            And => "&&",
            Or => "||",
        }
    }

    fn precedence(self) -> u8 {
        use BinOp::*;
        match self {
            Or => 1,
            And => 2,
            Eq | Ne | Lt | Le | Gt | Ge => 3,
            BitOr => 4,
            BitXor => 5,
            BitAnd => 6,
            Shl | Shr => 7,
            Add | Sub => 8,
            Mul | Div | Rem => 9,
        }
    }

    fn method(self) -> &'static str {
        use BinOp::*;
        match self {
            Add => "add",
            Sub => "sub",
            Mul => "mul",
            Div => "div",
            Rem => "rem",
            Shl => "shl",
            Shr => "shr",
            BitAnd => "bitand",
            BitOr => "bitor",
            BitXor => "bitxor",
            Eq => "is_eq",
            Ne => "is_ne",
            Lt => "is_lt",
            Le => "is_le",
            Gt => "is_gt",
            Ge => "is_ge",
            And => "and",
            Or => "or",
        }
    }

    /// Operand kind and result kind.
    fn kinds(self) -> (Kind, Kind) {
        use BinOp::*;
        match self {
            Eq | Ne | Lt | Le | Gt | Ge => (Kind::Num, Kind::Bool),
            And | Or => (Kind::Bool, Kind::Bool),
            _ => (Kind::Num, Kind::Num),
        }
    }
}

/// A built-in function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Min,
    Max,
}

/// Whether an expression yields a number or a truth value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Num,
    Bool,
}

/// An expression of the spec language.
#[derive(Debug, Clone)]
pub enum Expr {
    Lit(u64, Span),
    /// A field of the current structure, or a parameter.
    Var(syn::Ident),
    /// A field of another structure of the same file: `Header.l1_size`.
    Path(syn::Ident, syn::Ident),
    /// The length of the file (only in placements).
    End(Span),
    Bin(BinOp, Box<Expr>, Box<Expr>, Span),
    Not(Box<Expr>, Span),
    Call(Func, Vec<Expr>, Span),
    /// `if c { a } else { b }`: made by the compiler for dynamic offsets, never parsed.
    If(Box<Expr>, Box<Expr>, Box<Expr>),
}

/// What a name in an expression refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Num,
}

/// Name resolution for expression checking.
pub trait Scope {
    /// Resolves a bare name, or says why it cannot be used here.
    fn var(&self, name: &syn::Ident) -> std::result::Result<NameKind, String>;
    /// Resolves `Struct.field`.
    fn path(&self, base: &syn::Ident, field: &syn::Ident) -> std::result::Result<NameKind, String>;
    /// Whether `end` (the file length) is allowed.
    fn end_allowed(&self) -> bool;
}

impl Expr {
    /// Parses a syn expression (not a range or array; those are rules).
    pub fn from_syn(e: &syn::Expr) -> Result<Expr> {
        Ok(match e {
            syn::Expr::Lit(l) => match &l.lit {
                syn::Lit::Int(i) => Expr::Lit(i.base10_parse::<u64>()?, i.span()),
                syn::Lit::Bool(b) => Expr::Lit(b.value as u64, b.span()),
                other => bail!(other.span(), "expected an integer literal"),
            },
            syn::Expr::Path(p) => {
                let Some(id) = p.path.get_ident() else { bail!(p.span(), "expected a field or parameter name") };
                if id == "end" {
                    Expr::End(id.span())
                } else {
                    Expr::Var(id.clone())
                }
            }
            syn::Expr::Field(f) => {
                let syn::Expr::Path(base) = &*f.base else { bail!(f.span(), "expected `Struct.field`") };
                let Some(base) = base.path.get_ident() else { bail!(f.span(), "expected `Struct.field`") };
                let syn::Member::Named(field) = &f.member else { bail!(f.span(), "expected `Struct.field`") };
                Expr::Path(base.clone(), field.clone())
            }
            syn::Expr::Paren(p) => Expr::from_syn(&p.expr)?,
            syn::Expr::Group(g) => Expr::from_syn(&g.expr)?,
            syn::Expr::Unary(u) => match u.op {
                syn::UnOp::Not(_) => Expr::Not(Box::new(Expr::from_syn(&u.expr)?), u.span()),
                _ => bail!(u.span(), "unsupported unary operator (only `!`)"),
            },
            syn::Expr::Binary(b) => {
                use syn::BinOp as S;
                let op = match b.op {
                    S::Add(_) => BinOp::Add,
                    S::Sub(_) => BinOp::Sub,
                    S::Mul(_) => BinOp::Mul,
                    S::Div(_) => BinOp::Div,
                    S::Rem(_) => BinOp::Rem,
                    S::Shl(_) => BinOp::Shl,
                    S::Shr(_) => BinOp::Shr,
                    S::BitAnd(_) => BinOp::BitAnd,
                    S::BitOr(_) => BinOp::BitOr,
                    S::BitXor(_) => BinOp::BitXor,
                    S::Eq(_) => BinOp::Eq,
                    S::Ne(_) => BinOp::Ne,
                    S::Lt(_) => BinOp::Lt,
                    S::Le(_) => BinOp::Le,
                    S::Gt(_) => BinOp::Gt,
                    S::Ge(_) => BinOp::Ge,
                    S::And(_) => BinOp::And,
                    S::Or(_) => BinOp::Or,
                    _ => bail!(b.span(), "unsupported operator (assignments are not expressions)"),
                };
                Expr::Bin(op, Box::new(Expr::from_syn(&b.left)?), Box::new(Expr::from_syn(&b.right)?), b.span())
            }
            syn::Expr::Call(c) => {
                let syn::Expr::Path(f) = &*c.func else { bail!(c.span(), "expected `min(..)` or `max(..)`") };
                let func = match f.path.get_ident().map(|i| i.to_string()).as_deref() {
                    Some("min") => Func::Min,
                    Some("max") => Func::Max,
                    _ => bail!(f.span(), "unknown function (known: min, max)"),
                };
                if c.args.len() != 2 {
                    bail!(c.span(), "`min`/`max` take two arguments");
                }
                let args = c.args.iter().map(Expr::from_syn).collect::<Result<Vec<_>>>()?;
                Expr::Call(func, args, c.span())
            }
            other => bail!(other.span(), "unsupported expression"),
        })
    }

    pub fn lit(v: u64) -> Expr {
        Expr::Lit(v, Span::call_site())
    }

    pub fn bin(op: BinOp, a: Expr, b: Expr) -> Expr {
        Expr::Bin(op, Box::new(a), Box::new(b), Span::call_site())
    }

    /// Source location for diagnostics.
    pub fn span(&self) -> Span {
        match self {
            Expr::Lit(_, s) | Expr::End(s) | Expr::Bin(.., s) | Expr::Not(_, s) | Expr::Call(_, _, s) => *s,
            Expr::Var(i) => i.span(),
            Expr::Path(b, _) => b.span(),
            Expr::If(c, ..) => c.span(),
        }
    }

    /// Checks names and kinds; returns the expression's kind.
    pub fn check(&self, scope: &dyn Scope) -> Result<Kind> {
        match self {
            Expr::Lit(..) => Ok(Kind::Num),
            Expr::Var(id) => match scope.var(id) {
                Ok(NameKind::Num) => Ok(Kind::Num),
                Err(msg) => bail!(id.span(), "{msg}"),
            },
            Expr::Path(b, f) => match scope.path(b, f) {
                Ok(NameKind::Num) => Ok(Kind::Num),
                Err(msg) => bail!(b.span(), "{msg}"),
            },
            Expr::End(s) => {
                if !scope.end_allowed() {
                    bail!(*s, "`end` (the file length) can only be used in a placement (`at = ...`)");
                }
                Ok(Kind::Num)
            }
            Expr::Bin(op, a, b, _) => {
                let (operand, result) = op.kinds();
                for side in [a, b] {
                    let k = side.check(scope)?;
                    if k != operand {
                        bail!(side.span(), "operator `{}` expects {} operands", op.symbol(), kind_name(operand));
                    }
                }
                Ok(result)
            }
            Expr::Not(a, _) => {
                if a.check(scope)? != Kind::Bool {
                    bail!(a.span(), "`!` expects a condition");
                }
                Ok(Kind::Bool)
            }
            Expr::Call(_, args, _) => {
                for a in args {
                    if a.check(scope)? != Kind::Num {
                        bail!(a.span(), "`min`/`max` expect numbers");
                    }
                }
                Ok(Kind::Num)
            }
            Expr::If(c, a, b) => {
                c.check(scope)?;
                a.check(scope)?;
                b.check(scope)
            }
        }
    }

    /// Checks that this is a numeric expression.
    pub fn check_num(&self, scope: &dyn Scope, what: &str) -> Result<()> {
        if self.check(scope)? != Kind::Num {
            bail!(self.span(), "{what} must be a number, not a condition");
        }
        Ok(())
    }

    /// Checks that this is a condition.
    pub fn check_bool(&self, scope: &dyn Scope, what: &str) -> Result<()> {
        if self.check(scope)? != Kind::Bool {
            bail!(self.span(), "{what} must be a condition (e.g. `version >= 3`)");
        }
        Ok(())
    }

    /// Evaluates an expression without names, if it is one.
    pub fn const_eval(&self) -> Option<u64> {
        match self {
            Expr::Lit(v, _) => Some(*v),
            Expr::Bin(op, a, b, _) => {
                let (a, b) = (a.const_eval()?, b.const_eval()?);
                use BinOp::*;
                match op {
                    Add => a.checked_add(b),
                    Sub => a.checked_sub(b),
                    Mul => a.checked_mul(b),
                    Div => a.checked_div(b),
                    Rem => a.checked_rem(b),
                    Shl => (b < 64).then(|| a.checked_shl(b as u32)).flatten().filter(|r| r >> b == a),
                    Shr => (b < 64).then(|| a >> b),
                    BitAnd => Some(a & b),
                    BitOr => Some(a | b),
                    BitXor => Some(a ^ b),
                    Eq => Some((a == b) as u64),
                    Ne => Some((a != b) as u64),
                    Lt => Some((a < b) as u64),
                    Le => Some((a <= b) as u64),
                    Gt => Some((a > b) as u64),
                    Ge => Some((a >= b) as u64),
                    And => Some((a != 0 && b != 0) as u64),
                    Or => Some((a != 0 || b != 0) as u64),
                }
            }
            Expr::Call(f, args, _) => {
                let (a, b) = (args[0].const_eval()?, args[1].const_eval()?);
                Some(match f {
                    Func::Min => a.min(b),
                    Func::Max => a.max(b),
                })
            }
            Expr::If(c, a, b) => {
                if c.const_eval()? != 0 {
                    a.const_eval()
                } else {
                    b.const_eval()
                }
            }
            _ => None,
        }
    }

    /// Structures named in `Struct.field` paths.
    pub fn path_bases(&self, out: &mut Vec<syn::Ident>) {
        match self {
            Expr::Path(b, _) => {
                if !out.contains(b) {
                    out.push(b.clone())
                }
            }
            Expr::Bin(_, a, b, _) => {
                a.path_bases(out);
                b.path_bases(out);
            }
            Expr::Not(a, _) => a.path_bases(out),
            Expr::Call(_, args, _) => args.iter().for_each(|a| a.path_bases(out)),
            Expr::If(c, a, b) => {
                c.path_bases(out);
                a.path_bases(out);
                b.path_bases(out);
            }
            _ => {}
        }
    }

    /// Whether the expression uses `end`.
    pub fn uses_end(&self) -> bool {
        match self {
            Expr::End(_) => true,
            Expr::Bin(_, a, b, _) => a.uses_end() || b.uses_end(),
            Expr::Not(a, _) => a.uses_end(),
            Expr::Call(_, args, _) => args.iter().any(Expr::uses_end),
            Expr::If(c, a, b) => c.uses_end() || a.uses_end() || b.uses_end(),
            _ => false,
        }
    }

    /// Renders the expression as spec-like text (for layout tables and messages).
    pub fn render(&self) -> String {
        self.render_prec(0)
    }

    fn render_prec(&self, outer: u8) -> String {
        match self {
            Expr::Lit(v, _) => {
                if *v >= 0x10000 {
                    format!("{v:#x}")
                } else {
                    v.to_string()
                }
            }
            Expr::Var(id) => id.to_string(),
            Expr::Path(b, f) => format!("{b}.{f}"),
            Expr::End(_) => "end".into(),
            Expr::Bin(op, a, b, _) => {
                let p = op.precedence();
                let s = format!("{} {} {}", a.render_prec(p), op.symbol(), b.render_prec(p + 1));
                if p < outer {
                    format!("({s})")
                } else {
                    s
                }
            }
            Expr::Not(a, _) => format!("!{}", a.render_prec(11)),
            Expr::Call(f, args, _) => {
                let name = match f {
                    Func::Min => "min",
                    Func::Max => "max",
                };
                format!("{name}({}, {})", args[0].render(), args[1].render())
            }
            Expr::If(c, a, b) => format!("(if {} {{ {} }} else {{ {} }})", c.render(), a.render(), b.render()),
        }
    }

    /// Emits Rust code that evaluates the expression as `rt::Num` (numbers) or
    /// `rt::Cond` (conditions), never panicking.
    pub fn emit(&self, ctx: &EmitCtx) -> TokenStream {
        match self {
            Expr::Lit(v, _) => quote!(crate::rt::Num::lit(#v)),
            Expr::Var(id) => {
                let var = ctx.var(id);
                quote!(crate::rt::num(#var))
            }
            Expr::Path(b, f) => {
                let base = ctx.path_base(b);
                quote!(crate::rt::num(#base.#f))
            }
            Expr::End(_) => quote!(crate::rt::Num::lit(file_len)),
            Expr::Bin(op, a, b, _) => {
                let (a, b) = (a.emit(ctx), b.emit(ctx));
                let m = format_ident!("{}", op.method());
                quote!(#a.#m(#b))
            }
            Expr::Not(a, _) => {
                let a = a.emit(ctx);
                quote!(#a.not())
            }
            Expr::Call(f, args, _) => {
                let (a, b) = (args[0].emit(ctx), args[1].emit(ctx));
                match f {
                    Func::Min => quote!(#a.min(#b)),
                    Func::Max => quote!(#a.max(#b)),
                }
            }
            Expr::If(c, a, b) => {
                let (c, a, b) = (c.emit(ctx), a.emit(ctx), b.emit(ctx));
                quote!(crate::rt::Num::select(#c, #a, #b))
            }
        }
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Num => "numeric",
        Kind::Bool => "condition",
    }
}

/// How names are spelled in emitted code.
pub struct EmitCtx {
    /// Prefix for the current structure's fields: `self.` in methods, nothing in binrw attributes.
    pub self_prefix: bool,
    /// Parameter names (spelled bare).
    pub params: Vec<String>,
}

impl EmitCtx {
    pub fn fields_bare() -> Self {
        EmitCtx { self_prefix: false, params: vec![] }
    }

    pub fn fields_on_self() -> Self {
        EmitCtx { self_prefix: true, params: vec![] }
    }

    fn var(&self, id: &syn::Ident) -> TokenStream {
        if self.self_prefix && !self.params.iter().any(|p| id == p) {
            quote!(&self.#id)
        } else {
            quote!(#id)
        }
    }

    fn path_base(&self, base: &syn::Ident) -> TokenStream {
        let arg = format_ident!("{}", to_snake(&base.to_string()));
        quote!(#arg)
    }
}

/// `FooBar` → `foo_bar`.
pub fn to_snake(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A validation rule on a field's value.
#[derive(Debug, Clone)]
pub enum Rule {
    /// `lo..hi`, `lo..=hi`, `..=hi`, `lo..`.
    Range { lo: Option<Expr>, hi: Option<Expr>, inclusive: bool },
    /// One of a set of values.
    Set(Vec<Expr>),
    /// `value % n == 0`, written `align = n`.
    Align(Expr),
    /// `value % n == 0`, written `multiple_of = n`.
    MultipleOf(Expr),
    /// Power of two (and non-zero).
    PowerOfTwo,
}

impl Rule {
    /// Parses `valid = ...`.
    pub fn valid_from_syn(e: &syn::Expr) -> Result<Rule> {
        match e {
            syn::Expr::Range(r) => {
                let lo = r.start.as_deref().map(Expr::from_syn).transpose()?;
                let hi = r.end.as_deref().map(Expr::from_syn).transpose()?;
                let inclusive = matches!(r.limits, syn::RangeLimits::Closed(_));
                if lo.is_none() && hi.is_none() {
                    bail!(r.span(), "an empty range `..` accepts everything; drop the rule");
                }
                Ok(Rule::Range { lo, hi, inclusive })
            }
            syn::Expr::Array(a) => {
                let items = a.elems.iter().map(Expr::from_syn).collect::<Result<Vec<_>>>()?;
                if items.is_empty() {
                    bail!(a.span(), "an empty set accepts nothing");
                }
                Ok(Rule::Set(items))
            }
            other => Ok(Rule::Set(vec![Expr::from_syn(other)?])),
        }
    }

    pub fn exprs(&self) -> Vec<&Expr> {
        match self {
            Rule::Range { lo, hi, .. } => lo.iter().chain(hi.iter()).collect(),
            Rule::Set(v) => v.iter().collect(),
            Rule::Align(e) | Rule::MultipleOf(e) => vec![e],
            Rule::PowerOfTwo => vec![],
        }
    }

    /// Text for layout tables and error messages.
    pub fn render(&self) -> String {
        match self {
            Rule::Range { lo, hi, inclusive, .. } => format!(
                "{}{}{}",
                lo.as_ref().map(Expr::render).unwrap_or_default(),
                if *inclusive { "..=" } else { ".." },
                hi.as_ref().map(Expr::render).unwrap_or_default()
            ),
            Rule::Set(v) if v.len() == 1 => format!("= {}", v[0].render()),
            Rule::Set(v) => format!("one of [{}]", v.iter().map(Expr::render).collect::<Vec<_>>().join(", ")),
            Rule::Align(e) => format!("aligned to {}", e.render()),
            Rule::MultipleOf(e) => format!("multiple of {}", e.render()),
            Rule::PowerOfTwo => "power of two".into(),
        }
    }

    /// Emits a `rt::Cond` that holds when `value` (a `rt::Num` expression) obeys the rule.
    pub fn emit(&self, value: &TokenStream, ctx: &EmitCtx) -> TokenStream {
        match self {
            Rule::Range { lo, hi, inclusive, .. } => {
                let lo = lo.as_ref().map(|e| {
                    let e = e.emit(ctx);
                    quote!(#value.is_ge(#e))
                });
                let hi = hi.as_ref().map(|e| {
                    let e = e.emit(ctx);
                    if *inclusive {
                        quote!(#value.is_le(#e))
                    } else {
                        quote!(#value.is_lt(#e))
                    }
                });
                match (lo, hi) {
                    (Some(l), Some(h)) => quote!(#l.and(#h)),
                    (Some(l), None) => l,
                    (None, Some(h)) => h,
                    (None, None) => quote!(crate::rt::Cond::TRUE),
                }
            }
            Rule::Set(v) => {
                let alts = v.iter().map(|e| {
                    let e = e.emit(ctx);
                    quote!(#value.is_eq(#e))
                });
                quote!(crate::rt::Cond::FALSE #(.or(#alts))*)
            }
            Rule::Align(e) | Rule::MultipleOf(e) => {
                let e = e.emit(ctx);
                quote!(#value.rem(#e).is_eq(crate::rt::Num::lit(0)))
            }
            Rule::PowerOfTwo => quote!(#value.is_power_of_two()),
        }
    }
}
