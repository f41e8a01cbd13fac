//! Poppler and zbar command-line tools, used to read the PDFs back as a reader would.

use std::path::{Path, PathBuf};
use std::process::Command;

const TOOLS: [&str; 5] = ["pdftotext", "pdffonts", "pdfinfo", "pdftoppm", "zbarimg"];

/// True when every tool is installed. A missing tool fails under `CI` and skips loudly
/// elsewhere (Debian: `apt-get install poppler-utils zbar-tools`).
pub fn available(test: &str) -> bool {
    let missing: Vec<&str> = TOOLS
        .into_iter()
        .filter(|t| {
            matches!(
                Command::new(t).arg("--help").output(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound
            )
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: missing pdf tools {missing:?} (install poppler-utils zbar-tools)");
    }
    eprintln!(
        "\n*** SKIPPED (pdf tools): {test}: {missing:?} not installed; \
         apt-get install poppler-utils zbar-tools ***\n"
    );
    false
}

/// A scratch directory removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("mamis-pdf-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// Writes the PDF and returns its path.
    pub fn pdf(&self, bytes: &[u8]) -> PathBuf {
        let path = self.0.join("doc.pdf");
        std::fs::write(&path, bytes).unwrap();
        path
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `pdftotext -layout`: the text as laid out on the pages.
pub fn text(pdf: &Path) -> String {
    run(Command::new("pdftotext").arg("-layout").arg(pdf).arg("-"))
}

/// `pdffonts`: one line per font after the two header lines.
pub fn fonts(pdf: &Path) -> Vec<String> {
    run(Command::new("pdffonts").arg(pdf))
        .lines()
        .skip(2)
        .map(str::to_owned)
        .collect()
}

/// `pdfinfo` Pages.
pub fn pages(pdf: &Path) -> usize {
    run(Command::new("pdfinfo").arg(pdf))
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// `pdfinfo` as text, for metadata checks.
pub fn info(pdf: &Path) -> String {
    run(Command::new("pdfinfo").arg(pdf))
}

/// A greyscale page as rows of bytes (0 = black).
pub struct Gray {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
    pub dpi: f32,
}

impl Gray {
    /// Fraction of pixels darker than mid-grey in a rectangle given in millimetres.
    pub fn dark_fraction(&self, x_mm: f32, y_mm: f32, w_mm: f32, h_mm: f32) -> f64 {
        let px = |v: f32| (v / 25.4 * self.dpi).round() as usize;
        let (x0, y0) = (px(x_mm), px(y_mm));
        let (x1, y1) = (
            px(x_mm + w_mm).min(self.width),
            px(y_mm + h_mm).min(self.height),
        );
        let mut dark = 0usize;
        for y in y0..y1 {
            let row = &self.pixels[y * self.width..(y + 1) * self.width];
            dark += row[x0..x1].iter().filter(|&&p| p < 128).count();
        }
        dark as f64 / ((x1 - x0) * (y1 - y0)) as f64
    }
}

/// `pdftoppm -gray` of page 1, parsed from its binary PGM (P5) output.
pub fn raster_gray(pdf: &Path, scratch: &Scratch, dpi: u32) -> Gray {
    let base = scratch.path("page");
    run(Command::new("pdftoppm")
        .args([
            "-r",
            &dpi.to_string(),
            "-gray",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
        ])
        .arg(pdf)
        .arg(&base));
    let bytes = std::fs::read(base.with_extension("pgm")).unwrap();
    // Header: "P5", width, height, maxval, each separated by whitespace, then one whitespace.
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        fields.push(std::str::from_utf8(&bytes[start..i]).unwrap().to_owned());
    }
    assert_eq!(fields[0], "P5");
    assert_eq!(fields[3], "255");
    let (width, height): (usize, usize) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    let pixels = bytes[i + 1..].to_vec();
    assert_eq!(pixels.len(), width * height);
    Gray {
        width,
        height,
        pixels,
        dpi: dpi as f32,
    }
}

/// `zbarimg --raw -q` on page 1 rasterised at `dpi`: every decoded symbol.
pub fn qr_codes(pdf: &Path, scratch: &Scratch, dpi: u32) -> Vec<String> {
    let base = scratch.path("qr");
    run(Command::new("pdftoppm")
        .args([
            "-r",
            &dpi.to_string(),
            "-png",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
        ])
        .arg(pdf)
        .arg(&base));
    run(Command::new("zbarimg")
        .args(["--raw", "-q"])
        .arg(base.with_extension("png")))
    .lines()
    .map(str::to_owned)
    .collect()
}
