//! `--object TYPE,id=ID,key=value,...`: user-creatable objects, almost always
//! `secret` objects that hold passwords for encrypted images.
//!
//! qemu-img creates each object while it scans the options, so a bad `--object`
//! fails (or `--object help` prints and exits 0) before later options are looked at.
//! This module performs the checks that need no I/O, with QEMU's messages:
//!
//! * the `keyval` syntax: elements split at `,` (`,,` escapes a comma in values), a
//!   first element without `=` is the type, a bare `help` or `?` asks for help, other
//!   bare words are `Expected '=' after parameter 'x'`, keys must be QAPI names;
//! * `qom-type` and `id` present, the type known, the id a well-formed identifier;
//! * for `secret`: only `data`, `file`, `format`, `keyid`, `iv`; `format` is `raw`
//!   or `base64`; exactly one of `data` and `file`.
//!
//! Reading a `file=`, resolving `keyid=`, duplicate ids across objects and the
//! properties of other object types are left to whoever instantiates the objects.
//! When one string has several problems QEMU may report a different one first (it
//! visits keys in hash order).

use qimg_runtime::opts::{take_value, well_formed_id};

/// A user-creatable object as given with `--object`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectDef {
    /// The object type (`secret`, ...).
    pub qom_type: String,
    /// The object id other options refer to (`key-secret=ID`).
    pub id: String,
    /// The remaining properties, in the order given; a repeated key keeps its last
    /// value (in the position of its first occurrence).
    pub props: Vec<(String, String)>,
}

#[cfg(test)]
impl ObjectDef {
    /// The value of a property.
    pub fn prop(&self, key: &str) -> Option<&str> {
        self.props.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// What an `--object` argument amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectArg {
    /// An object to create.
    Def(ObjectDef),
    /// Help text for stdout; qemu-img then exits with status 0.
    Help(String),
}

/// Object types user-creatable in qemu-img 10.0.2 (`--object help`).
const CREATABLE: &[&str] = &[
    "authz-list",
    "authz-list-file",
    "authz-simple",
    "main-loop",
    "pr-manager-helper",
    "secret",
    "secret_keyring",
    "thread-context",
    "throttle-group",
    "tls-creds-anon",
    "tls-creds-psk",
    "tls-creds-x509",
];

/// Values of QEMU's `ObjectType` enumeration (anything else is rejected outright).
const QOM_TYPES: &[&str] = &[
    "acpi-generic-initiator",
    "acpi-generic-port",
    "authz-list",
    "authz-listfile",
    "authz-pam",
    "authz-simple",
    "can-bus",
    "can-host-socketcan",
    "colo-compare",
    "cryptodev-backend",
    "cryptodev-backend-builtin",
    "cryptodev-backend-lkcf",
    "cryptodev-vhost-user",
    "dbus-vmstate",
    "filter-buffer",
    "filter-dump",
    "filter-mirror",
    "filter-redirector",
    "filter-replay",
    "filter-rewriter",
    "input-barrier",
    "input-linux",
    "iommufd",
    "iothread",
    "main-loop",
    "memory-backend-epc",
    "memory-backend-file",
    "memory-backend-memfd",
    "memory-backend-ram",
    "memory-backend-shm",
    "pef-guest",
    "pr-manager-helper",
    "qtest",
    "rng-builtin",
    "rng-egd",
    "rng-random",
    "secret",
    "secret_keyring",
    "sev-guest",
    "sev-snp-guest",
    "thread-context",
    "throttle-group",
    "tls-cipher-suites",
    "tls-creds-anon",
    "tls-creds-psk",
    "tls-creds-x509",
    "x-remote-object",
    "x-vfio-user-server",
];

/// Property help of the types whose `TYPE,help` output is reproduced.
fn type_help(qom_type: &str) -> Option<&'static str> {
    match qom_type {
        "secret" => Some(
            "secret options:\n  data=<string>\n  file=<string>\n  format=<QCryptoSecretFormat>\n  iv=<string>\n  keyid=<string>\n",
        ),
        "secret_keyring" => Some(
            "secret_keyring options:\n  format=<QCryptoSecretFormat>\n  iv=<string>\n  keyid=<string>\n  serial=<int32_t>\n",
        ),
        _ => None,
    }
}

fn type_list() -> String {
    let mut s = String::from("List of user creatable objects:\n");
    for t in CREATABLE {
        s.push_str("  ");
        s.push_str(t);
        s.push('\n');
    }
    s
}

/// Length of the QAPI name at the start of `s` (a letter, then letters, digits, `-`
/// and `_`), 0 if there is none.
fn qapi_name_len(s: &str) -> usize {
    let b = s.as_bytes();
    if !b.first().is_some_and(u8::is_ascii_alphabetic) {
        return 0;
    }
    1 + b[1..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'-' || **c == b'_')
        .count()
}

/// Whether every `.`-separated fragment of a key is a QAPI name.
fn valid_key(key: &str) -> bool {
    key.split('.')
        .all(|frag| !frag.is_empty() && qapi_name_len(frag) == frag.len())
}

/// Parse and check one `--object` argument. `Err` holds QEMU's message (without the
/// `qemu-img: ` prefix; the identifier message has two lines).
pub fn parse_object(arg: &str) -> Result<ObjectArg, String> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut help = false;
    let mut rest = arg;
    let mut first = true;
    while !rest.is_empty() {
        let len = rest.find(['=', ',']).unwrap_or(rest.len());
        let word = &rest[..len];
        if len > 0 && !rest[len..].starts_with('=') {
            if word == "help" || word == "?" {
                help = true;
            } else if first {
                pairs.push(("qom-type".into(), word.to_string()));
            } else if !valid_key(word) {
                return Err(format!("Invalid parameter '{word}'"));
            } else {
                return Err(format!("Expected '=' after parameter '{word}'"));
            }
            rest = rest[len..].strip_prefix(',').unwrap_or(&rest[len..]);
            first = false;
            continue;
        }
        if !valid_key(word) {
            return Err(format!("Invalid parameter '{word}'"));
        }
        let (value, after) = take_value(&rest[len + 1..]);
        match pairs.iter_mut().find(|(k, _)| k == word) {
            Some(slot) => slot.1 = value,
            None => pairs.push((word.to_string(), value)),
        }
        rest = after;
        first = false;
    }

    let qom_type = pairs
        .iter()
        .find(|(k, _)| k == "qom-type")
        .map(|(_, v)| v.clone());
    if help {
        return Ok(ObjectArg::Help(
            match qom_type.as_deref().and_then(type_help) {
                Some(h) => h.to_string(),
                None => type_list(),
            },
        ));
    }
    if let Some(nested) = pairs
        .iter()
        .find_map(|(k, _)| k.split_once('.').filter(|(p, _)| *p == "qom-type"))
    {
        return Err(format!("Parameters '{}.*' are unexpected", nested.0));
    }
    let Some(qom_type) = qom_type else {
        return Err("Parameter 'qom-type' is missing".into());
    };
    if !QOM_TYPES.contains(&qom_type.as_str()) {
        return Err(format!(
            "Parameter 'qom-type' does not accept value '{qom_type}'"
        ));
    }
    let Some(id) = pairs
        .iter()
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v.clone())
    else {
        return Err("Parameter 'id' is missing".into());
    };
    let props: Vec<(String, String)> = pairs
        .into_iter()
        .filter(|(k, _)| k != "qom-type" && k != "id")
        .collect();
    if qom_type == "secret" {
        check_secret(&props)?;
    }
    if !well_formed_id(&id) {
        return Err(
            "Parameter 'id' expects an identifier\n\
                    Identifiers consist of letters, digits, '-', '.', '_', starting with a letter."
                .into(),
        );
    }
    if qom_type == "secret" {
        let has = |k: &str| props.iter().any(|(p, _)| p == k);
        match (has("data"), has("file")) {
            (true, true) => return Err("'file' and 'data' are mutually exclusive".into()),
            (false, false) => return Err("Either 'file' or 'data' must be provided".into()),
            _ => {}
        }
    }
    Ok(ObjectArg::Def(ObjectDef {
        qom_type,
        id,
        props,
    }))
}

/// The property checks QEMU's input visitor makes for a `secret`.
fn check_secret(props: &[(String, String)]) -> Result<(), String> {
    const KNOWN: &[&str] = &["format", "keyid", "iv", "data", "file"];
    for (k, v) in props {
        if let Some((head, _)) = k.split_once('.') {
            return Err(format!("Parameters '{head}.*' are unexpected"));
        }
        if k == "format" && v != "raw" && v != "base64" {
            return Err(format!("Parameter 'format' does not accept value '{v}'"));
        }
    }
    if let Some((k, _)) = props.iter().find(|(k, _)| !KNOWN.contains(&k.as_str())) {
        return Err(format!("Parameter '{k}' is unexpected"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        parse_object(s).unwrap_err()
    }

    /// Messages of `qemu-img info --object ARG x` (10.0.2).
    #[test]
    fn errors_match_qemu_img() {
        assert_eq!(
            err("foo"),
            "Parameter 'qom-type' does not accept value 'foo'"
        );
        assert_eq!(
            err("Secret,id=s0,data=x"),
            "Parameter 'qom-type' does not accept value 'Secret'"
        );
        assert_eq!(err("secret"), "Parameter 'id' is missing");
        assert_eq!(err("secret,"), "Parameter 'id' is missing");
        assert_eq!(err("secret,data=x,bogus=1"), "Parameter 'id' is missing");
        assert_eq!(
            err("secret,id=s0"),
            "Either 'file' or 'data' must be provided"
        );
        assert_eq!(err("id=s0"), "Parameter 'qom-type' is missing");
        assert_eq!(err(""), "Parameter 'qom-type' is missing");
        assert_eq!(
            err("secret,id=s0,data=x,bogus=1"),
            "Parameter 'bogus' is unexpected"
        );
        assert_eq!(
            err("secret,bogus=1,id=s0"),
            "Parameter 'bogus' is unexpected"
        );
        assert_eq!(
            err("secret,id=s0,data=x,loaded=on"),
            "Parameter 'loaded' is unexpected"
        );
        assert_eq!(
            err("secret,id=s0,data=x,help=1"),
            "Parameter 'help' is unexpected"
        );
        let ident = "Parameter 'id' expects an identifier\n\
                     Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.";
        assert_eq!(err("secret,id=0s,data=x"), ident);
        assert_eq!(err("secret,id=,data=x"), ident);
        assert_eq!(err("secret,id=a b,data=x"), ident);
        assert_eq!(err("secret,id=9"), ident);
        assert_eq!(err("secret,id=s0,id=7,data=x"), ident);
        assert_eq!(
            err("secret,id=9,data=x,bogus=2"),
            "Parameter 'bogus' is unexpected"
        );
        assert_eq!(
            err("secret,id=s0,data=x,format=bogus"),
            "Parameter 'format' does not accept value 'bogus'"
        );
        assert_eq!(
            err("secret,id=s0,bogus=1,format=bad"),
            "Parameter 'format' does not accept value 'bad'"
        );
        assert_eq!(
            err("secret,id=s0,file=/etc/hostname,data=x"),
            "'file' and 'data' are mutually exclusive"
        );
        assert_eq!(
            err("secret,id=s0,data"),
            "Expected '=' after parameter 'data'"
        );
        assert_eq!(
            err("secret,id=s0,nodata"),
            "Expected '=' after parameter 'nodata'"
        );
        assert_eq!(err("id=s0,secret"), "Expected '=' after parameter 'secret'");
        assert_eq!(err("secret,x=,y"), "Expected '=' after parameter 'y'");
        assert_eq!(err("secret,,x"), "Invalid parameter ''");
        assert_eq!(err("secret,,"), "Invalid parameter ''");
        assert_eq!(err(",,"), "Invalid parameter ''");
        assert_eq!(err(",id=s0"), "Invalid parameter ''");
        assert_eq!(err("secret,=x"), "Invalid parameter ''");
        assert_eq!(err("secret,id=s0,da!ta=x"), "Invalid parameter 'da!ta'");
        assert_eq!(
            err("secret,id=s0,data.x=1"),
            "Parameters 'data.*' are unexpected"
        );
        assert_eq!(
            err("secret,id=s0,data.x=1,bogus=1"),
            "Parameters 'data.*' are unexpected"
        );
        assert_eq!(
            err("qom-type.x=1"),
            "Parameters 'qom-type.*' are unexpected"
        );
        assert_eq!(
            err("se.cret,id=s"),
            "Parameter 'qom-type' does not accept value 'se.cret'"
        );
        assert_eq!(
            err("qom-type=help"),
            "Parameter 'qom-type' does not accept value 'help'"
        );
    }

    #[test]
    fn accepted_objects() {
        let ObjectArg::Def(d) = parse_object("secret,id=s0,data=a,,b,format=raw").unwrap() else {
            panic!()
        };
        assert_eq!(d.qom_type, "secret");
        assert_eq!(d.id, "s0");
        assert_eq!(d.prop("data"), Some("a,b"));
        assert_eq!(d.prop("format"), Some("raw"));
        let ObjectArg::Def(d) = parse_object("qom-type=secret,id=a,data=b,data=c").unwrap() else {
            panic!()
        };
        assert_eq!(d.prop("data"), Some("c"));
        assert!(matches!(
            parse_object("secret,id=s0,data=x,,"),
            Ok(ObjectArg::Def(_))
        ));
        assert!(matches!(
            parse_object("secret,id=s0,data=x,iv=q,keyid=k"),
            Ok(ObjectArg::Def(_))
        ));
        assert!(matches!(
            parse_object("throttle-group,id=t"),
            Ok(ObjectArg::Def(_))
        ));
    }

    #[test]
    fn help_texts() {
        let list = "List of user creatable objects:\n  authz-list\n  authz-list-file\n  authz-simple\n  main-loop\n  pr-manager-helper\n  secret\n  secret_keyring\n  thread-context\n  throttle-group\n  tls-creds-anon\n  tls-creds-psk\n  tls-creds-x509\n";
        for arg in ["help", "?", "foo,help", "help,id=s0"] {
            assert_eq!(parse_object(arg), Ok(ObjectArg::Help(list.into())), "{arg}");
        }
        let secret = "secret options:\n  data=<string>\n  file=<string>\n  format=<QCryptoSecretFormat>\n  iv=<string>\n  keyid=<string>\n";
        for arg in ["secret,help", "secret,?", "secret,id=s0,data=x,help"] {
            assert_eq!(
                parse_object(arg),
                Ok(ObjectArg::Help(secret.into())),
                "{arg}"
            );
        }
    }
}
