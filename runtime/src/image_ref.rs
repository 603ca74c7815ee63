//! An image as a command line names it: a file name with an optional format
//! (`-f`), or an `--image-opts` option string; opened with the secrets that
//! `--object` defined.

use crate::error::{Error, Result};
use crate::image::{self, Image, Keys, OpenOptions};
use crate::image_opts::{self, ImageOpts};
use crate::secret::SecretStore;

/// A named image, not yet opened.
#[derive(Debug, Clone)]
pub struct ImageRef {
    /// What the user typed: the file name or the option string. Open errors
    /// read `Could not open 'SOURCE': REASON`.
    pub source: String,
    /// `-f`, or the `driver=` option.
    pub format: Option<String>,
    /// The parsed `--image-opts` string.
    pub opts: Option<ImageOpts>,
}

impl ImageRef {
    /// A file name with an optional format.
    pub fn file(name: &str, format: Option<&str>) -> ImageRef {
        ImageRef { source: name.to_string(), format: format.map(str::to_string), opts: None }
    }

    /// `source` as a file name, or with `image_opts` as an option string
    /// (whose errors read `Could not open 'SOURCE': REASON`).
    pub fn new(source: &str, format: Option<&str>, image_opts: bool) -> Result<ImageRef> {
        if !image_opts {
            return Ok(ImageRef::file(source, format));
        }
        let opts = image_opts::parse(source).map_err(|e| e.prefix(format!("Could not open '{source}'")))?;
        if opts.raw_offset.is_some() || opts.raw_size.is_some() {
            return Err(Error::unsupported(format!(
                "Could not open '{source}': qimg does not support the raw 'offset' and 'size' options yet"
            )));
        }
        let format = match opts.driver.as_deref() {
            Some("file") => Some("raw".to_string()),
            d => d.map(str::to_string),
        };
        Ok(ImageRef { source: source.to_string(), format, opts: Some(opts) })
    }

    /// The host file to open.
    pub fn filename(&self) -> &str {
        self.opts.as_ref().map_or(&self.source, |o| &o.filename)
    }

    /// Opens the image: `base` says how (this reference's format, if it has
    /// one, replaces `base`'s; `-U` and keys come from its options);
    /// `secrets` holds the `--object` secrets.
    pub fn open(&self, base: OpenOptions<'_>, secrets: &SecretStore) -> Result<Box<dyn Image>> {
        self.open_node(base, secrets).map_err(|e| e.prefix(format!("Could not open '{}'", self.source)))
    }

    fn open_node(&self, base: OpenOptions<'_>, secrets: &SecretStore) -> Result<Box<dyn Image>> {
        let mut opts = OpenOptions { format: self.format.as_deref().or(base.format), ..base };
        opts.keys.secrets = Some(secrets);
        if let Some(io) = &self.opts {
            opts.force_share |= io.force_share;
            opts.keys = Keys {
                secrets: Some(secrets),
                key_secret: io.key_secret.as_deref(),
                encrypt_format: io.encrypt_format.as_deref(),
            };
        }
        let img = image::open_node(self.filename(), &opts)?;
        if let Some(io) = &self.opts {
            io.check_format(self.opened_format(img.as_ref()))?;
        }
        Ok(img)
    }

    /// The format name the options are checked against (`file` when the
    /// host file itself was asked for).
    fn opened_format<'a>(&self, img: &'a dyn Image) -> &'a str {
        match self.opts.as_ref().and_then(|o| o.driver.as_deref()) {
            Some("file") => "file",
            _ => img.format(),
        }
    }

    /// The name qemu shows for the opened image: the file name, or a
    /// `json:{...}` name when options beyond the file name were given.
    pub fn display_name(&self, img: &dyn Image) -> String {
        match &self.opts {
            Some(io) => io.display_name(self.opened_format(img)),
            None => self.source.clone(),
        }
    }
}
