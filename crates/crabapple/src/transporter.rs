//! `crabapple transporter validate PACKAGE.itmsp`: checks a Transporter package as Apple's
//! Transporter does before an upload (crates/transporter) and prints its package summary;
//! the exit status is 1 when the package has problems, as Transporter's.

use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum TransporterCmd {
    /// Check a .itmsp package: metadata.xml against the software5.x schema (Apple's
    /// ITMS-3000 lines with line, column and XPath), then the size and md5 checksum of every
    /// file it names.
    Validate {
        /// The package directory (NAME.itmsp, holding metadata.xml and its files).
        package: PathBuf,
    },
}

pub fn run(cmd: TransporterCmd) -> anyhow::Result<()> {
    match cmd {
        TransporterCmd::Validate { package } => {
            anyhow::ensure!(
                package.is_dir(),
                "{} is not a package directory (NAME.itmsp)",
                package.display()
            );
            let report = crabapple_transporter::verify(&package, &package.display().to_string());
            print!("{}", report.summary());
            if !report.is_valid() {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}
