//! `amend`: the option string checked against the image format's amend
//! options, with qemu-img's hint for options only `create` knows. The
//! format's own amendment is [`crate::image::Image::amend`].

use crate::create_opts::{amend_schema, create_schema};
use crate::error::{Error, Result};
use crate::opts::{append_schema, Opts};

/// Parses `-o` options for amending a `format` image, as qemu-img does: when
/// they do not parse as amend options but would as create options too, the
/// error gets the hint `This option is only supported for image creation`.
pub fn parse_options(format: &str, options: &str) -> Result<Opts> {
    let Some(schema) = amend_schema(format) else {
        return Err(Error::unsupported(format!("Format driver '{format}' does not support option amendment")));
    };
    Opts::parse(schema, options).map_err(|e| {
        let err = Error::invalid(e.to_string());
        let wider = append_schema(schema, create_schema(format).unwrap_or(&[]));
        match Opts::parse(&wider, options) {
            Ok(_) => err.with_hint("This option is only supported for image creation"),
            Err(_) => err,
        }
    })
}
