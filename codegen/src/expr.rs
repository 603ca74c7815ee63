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

    /// How emitted code spells the operation: as a Rust operator that
    /// `rt::Num` overloads (arithmetic and bit operations), or as a method
    /// (comparisons, which yield an `rt::Cond`, and `&&`/`||`, which Rust does
    /// not let a type overload).
    fn spelling(self) -> Spelling {
        use BinOp::*;
        use Spelling::{Method, Operator};
        match self {
            Add => Operator(quote!(+)),
            Sub => Operator(quote!(-)),
            Mul => Operator(quote!(*)),
            Div => Operator(quote!(/)),
            Rem => Operator(quote!(%)),
            Shl => Operator(quote!(<<)),
            Shr => Operator(quote!(>>)),
            BitAnd => Operator(quote!(&)),
            BitOr => Operator(quote!(|)),
            BitXor => Operator(quote!(^)),
            Eq => Method("is_eq"),
            Ne => Method("is_ne"),
            Lt => Method("is_lt"),
            Le => Method("is_le"),
            Gt => Method("is_gt"),
            Ge => Method("is_ge"),
            And => Method("and"),
            Or => Method("or"),
        }
    }

    /// Bit and shift operators. Mixed with other operators they get
    /// parentheses even where precedence makes them optional, as readers (and
    /// clippy's `precedence` lint) expect: `(a + b) << c`, `a & (b >> c)`.
    fn is_bitwise(self) -> bool {
        matches!(self, BinOp::Shl | BinOp::Shr | BinOp::BitAnd | BinOp::BitOr | BinOp::BitXor)
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

/// How a [`BinOp`] is written in emitted code.
enum Spelling {
    Operator(TokenStream),
    Method(&'static str),
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
            Expr::Path(b, _) if !out.contains(b) => out.push(b.clone()),
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
    /// `rt::Cond` (conditions), never panicking. The code can be used anywhere,
    /// including as the receiver of a method call (`#e.get()`): it is
    /// parenthesized when its outermost part is an operator.
    pub fn emit(&self, ctx: &EmitCtx) -> TokenStream {
        self.code(ctx).receiver()
    }

    /// Like [`Expr::emit`], without outer parentheses: for function and method
    /// arguments, where Rust needs none.
    pub fn emit_arg(&self, ctx: &EmitCtx) -> TokenStream {
        self.code(ctx).tokens
    }

    /// The Rust code for this expression, with how tightly it binds.
    fn code(&self, ctx: &EmitCtx) -> Code {
        match self {
            Expr::Lit(v, _) => Code::atom(quote!(crate::rt::Num::lit(#v))),
            Expr::Var(id) => {
                let var = ctx.var(id);
                Code::atom(quote!(crate::rt::num(#var)))
            }
            Expr::Path(b, f) => {
                let base = ctx.path_base(b);
                Code::atom(quote!(crate::rt::num(#base.#f)))
            }
            Expr::End(_) => Code::atom(quote!(crate::rt::Num::lit(file_len))),
            Expr::Bin(op, a, b, _) => match op.spelling() {
                Spelling::Operator(operator) => {
                    let a = a.code(ctx).operand(*op, false);
                    let b = b.code(ctx).operand(*op, true);
                    Code { tokens: quote!(#a #operator #b), prec: op.precedence() }
                }
                Spelling::Method(method) => {
                    let method = format_ident!("{method}");
                    let (a, b) = (a.emit(ctx), b.emit_arg(ctx));
                    Code::atom(quote!(#a.#method(#b)))
                }
            },
            Expr::Not(a, _) => {
                let a = a.code(ctx).unary_operand();
                Code { tokens: quote!(!#a), prec: Code::UNARY }
            }
            Expr::Call(f, args, _) => {
                let (a, b) = (args[0].emit(ctx), args[1].emit_arg(ctx));
                Code::atom(match f {
                    Func::Min => quote!(#a.min(#b)),
                    Func::Max => quote!(#a.max(#b)),
                })
            }
            Expr::If(c, a, b) => {
                let (c, a, b) = (c.emit_arg(ctx), a.emit_arg(ctx), b.emit_arg(ctx));
                Code::atom(quote!(crate::rt::Num::select(#c, #a, #b)))
            }
        }
    }

    /// Whether the expression names `name` (a field or parameter).
    pub fn uses_var(&self, name: &syn::Ident) -> bool {
        match self {
            Expr::Var(id) => id == name,
            Expr::Bin(_, a, b, _) => a.uses_var(name) || b.uses_var(name),
            Expr::Not(a, _) => a.uses_var(name),
            Expr::Call(_, args, _) => args.iter().any(|a| a.uses_var(name)),
            Expr::If(c, a, b) => c.uses_var(name) || a.uses_var(name) || b.uses_var(name),
            Expr::Lit(..) | Expr::Path(..) | Expr::End(_) => false,
        }
    }
}

/// Emitted Rust for an expression, with the binding power of its outermost
/// part, so that enclosing code adds parentheses only where Rust needs them.
struct Code {
    tokens: TokenStream,
    /// `Code::ATOM` for paths, calls and method calls, `Code::UNARY` for `!x`,
    /// otherwise the precedence of the outermost binary operator.
    prec: u8,
}

impl Code {
    const ATOM: u8 = u8::MAX;
    const UNARY: u8 = 10;

    fn atom(tokens: TokenStream) -> Code {
        Code { tokens, prec: Code::ATOM }
    }

    fn parenthesized(self) -> TokenStream {
        let t = self.tokens;
        quote!((#t))
    }

    /// As the receiver of a method call.
    fn receiver(self) -> TokenStream {
        if self.prec == Code::ATOM {
            self.tokens
        } else {
            self.parenthesized()
        }
    }

    /// As the operand of `!`.
    fn unary_operand(self) -> TokenStream {
        if self.prec >= Code::UNARY {
            self.tokens
        } else {
            self.parenthesized()
        }
    }

    /// As the left or right operand of the binary operator `op`: parenthesized
    /// where precedence and left associativity require it, and around other
    /// operators mixed with a bit or shift operator (see [`BinOp::is_bitwise`]).
    fn operand(self, op: BinOp, right: bool) -> TokenStream {
        let p = op.precedence();
        let binary = self.prec < Code::UNARY;
        let needed = self.prec < p || (right && self.prec == p);
        let clearer = binary && op.is_bitwise() && self.prec != p;
        if needed || clearer {
            self.parenthesized()
        } else {
            self.tokens
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
            quote!(self.#id)
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

    /// Emits a `rt::Cond` that holds when `value` (a `rt::Num` expression that
    /// can be a method receiver, such as `crate::rt::num(self.x)`) obeys the rule.
    pub fn emit(&self, value: &TokenStream, ctx: &EmitCtx) -> TokenStream {
        match self {
            Rule::Range { lo, hi, inclusive, .. } => {
                let lo = lo.as_ref().map(|e| {
                    let e = e.emit_arg(ctx);
                    quote!(#value.is_ge(#e))
                });
                let hi = hi.as_ref().map(|e| {
                    let e = e.emit_arg(ctx);
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
                let mut alts = v.iter().map(|e| {
                    let e = e.emit_arg(ctx);
                    quote!(#value.is_eq(#e))
                });
                match alts.next() {
                    Some(first) => quote!(#first #(.or(#alts))*),
                    None => quote!(crate::rt::Cond::FALSE),
                }
            }
            Rule::Align(e) | Rule::MultipleOf(e) => {
                let e = e.code(ctx).operand(BinOp::Rem, true);
                quote!((#value % #e).is_eq(crate::rt::Num::lit(0)))
            }
            Rule::PowerOfTwo => quote!(#value.is_power_of_two()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Emitted code without spaces, with the `rt` paths shortened: `num(a)`
    /// for a field, `lit(1u64)` for a literal.
    fn shorten(code: TokenStream) -> String {
        code.to_string().replace(' ', "").replace("crate::rt::Num::", "").replace("crate::rt::", "")
    }

    fn expr(src: &str) -> Expr {
        Expr::from_syn(&syn::parse_str(src).unwrap()).unwrap()
    }

    /// A spec expression over fields, emitted as a function argument.
    fn arg(src: &str) -> String {
        shorten(expr(src).emit_arg(&EmitCtx::fields_bare()))
    }

    /// A rule on the field `x`, emitted inside a method.
    fn rule(r: &Rule) -> String {
        shorten(r.emit(&quote!(crate::rt::num(self.x)), &EmitCtx::fields_on_self()))
    }

    #[test]
    fn operators_keep_the_spec_grouping() {
        assert_eq!(arg("a - b - c"), "num(a)-num(b)-num(c)");
        assert_eq!(arg("a - (b - c)"), "num(a)-(num(b)-num(c))");
        assert_eq!(arg("a + b * c"), "num(a)+num(b)*num(c)");
        assert_eq!(arg("(a + b) * c"), "(num(a)+num(b))*num(c)");
        assert_eq!(arg("a / (b * c)"), "num(a)/(num(b)*num(c))");
    }

    #[test]
    fn bit_operators_mixed_with_others_are_parenthesized() {
        assert_eq!(arg("1 << a + 1"), "lit(1u64)<<(num(a)+lit(1u64))");
        assert_eq!(arg("a & b & c"), "num(a)&num(b)&num(c)");
        assert_eq!(arg("a & b >> 2"), "num(a)&(num(b)>>lit(2u64))");
        assert_eq!(arg("(a << 9) - 1"), "(num(a)<<lit(9u64))-lit(1u64)");
    }

    #[test]
    fn comparisons_and_logic_are_methods() {
        assert_eq!(arg("a + 1 >= b"), "(num(a)+lit(1u64)).is_ge(num(b))");
        assert_eq!(arg("a == 1 && !(b < 2)"), "num(a).is_eq(lit(1u64)).and(!num(b).is_lt(lit(2u64)))");
        assert_eq!(arg("!(a == 1) || b == 2"), "(!num(a).is_eq(lit(1u64))).or(num(b).is_eq(lit(2u64)))");
        assert_eq!(arg("min(a - 1, b)"), "(num(a)-lit(1u64)).min(num(b))");
    }

    #[test]
    fn receivers_are_parenthesized_and_arguments_are_not() {
        let ctx = EmitCtx::fields_bare();
        assert_eq!(shorten(expr("a * 512").emit(&ctx)), "(num(a)*lit(512u64))");
        assert_eq!(shorten(expr("a * 512").emit_arg(&ctx)), "num(a)*lit(512u64)");
        assert_eq!(shorten(expr("a").emit(&ctx)), "num(a)");
    }

    #[test]
    fn rules_compare_the_value() {
        let valid = |src: &str| Rule::valid_from_syn(&syn::parse_str(src).unwrap()).unwrap();
        assert_eq!(rule(&valid("[1, 2]")), "num(self.x).is_eq(lit(1u64)).or(num(self.x).is_eq(lit(2u64)))");
        assert_eq!(rule(&valid("..=(1 << b) - a")), "num(self.x).is_le((lit(1u64)<<num(self.b))-num(self.a))");
        assert_eq!(rule(&Rule::Align(expr("1 << b"))), "(num(self.x)%(lit(1u64)<<num(self.b))).is_eq(lit(0))");
    }
}
