//! `crabapple transporter validate PACKAGE.itmsp`: checks a Transporter package as Apple's
//! Transporter does before an upload (crates/transporter) and prints its package summary;
//! the exit status is 1 when the package has problems, as Transporter's.
//! `crabapple transporter upload PACKAGE.itmsp --data DIR`: the same check, then the package's
//! binary (`.ipa`/`.pkg`) delivered as an API build upload (crabapple-server's build_delivery.rs),
//! so the build is processed on the virtual clock like any upload.

use crate::DataArg;
use clap::Subcommand;
use crabapple_jsonapi::Engine;
use crabapple_server::build_delivery::{Delivery, app_of_bundle, deliver};
use crabapple_server::setup::open_existing;
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
    /// Check a .itmsp package as `validate` does, then deliver its binary (the `.ipa`/`.pkg`
    /// of its `software_assets`) as an API build upload to the data directory's team: the build
    /// is PROCESSING, then VALID on the virtual clock. Exit status 1 when the package has
    /// problems (nothing is created) or the upload fails (its ITMS errors are printed).
    Upload {
        #[command(flatten)]
        data: DataArg,
        /// The package directory (NAME.itmsp, holding metadata.xml and its files).
        package: PathBuf,
    },
}

/// Checks the package and prints its summary; exits 1 when it has problems.
fn verified(package: &std::path::Path) -> anyhow::Result<crabapple_transporter::Report> {
    anyhow::ensure!(
        package.is_dir(),
        "{} is not a package directory (NAME.itmsp)",
        package.display()
    );
    let report = crabapple_transporter::verify(package, &package.display().to_string());
    print!("{}", report.summary());
    if !report.is_valid() {
        std::process::exit(1);
    }
    Ok(report)
}

pub async fn run(cmd: TransporterCmd) -> anyhow::Result<()> {
    match cmd {
        TransporterCmd::Validate { package } => verified(&package).map(|_| ()),
        TransporterCmd::Upload { data, package } => {
            let report = verified(&package)?;
            let Some(binary) = report.binary else {
                println!("The package holds no .ipa or .pkg asset: no build was uploaded.");
                return Ok(());
            };
            let bytes = std::fs::read(&binary.path)?;
            // What Transporter reads from the binary itself when the metadata does not say it.
            let info = crabapple_asc::rules::bundle::open(&bytes).map_err(|e| {
                anyhow::anyhow!(
                    "{}: {} {}",
                    binary.file_name,
                    e["code"].as_str().unwrap_or_default(),
                    e["description"].as_str().unwrap_or_default()
                )
            })?;
            let store = open_existing(&data.data).await?;
            let engine = Engine::new(store, crabapple_asc::families());
            let app = match binary.apple_id.clone() {
                Some(id) => id,
                None => app_of_bundle(&engine, &info.bundle_id)
                    .await
                    .map_err(anyhow::Error::msg)?
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "no app of the team has the bundle id '{}' (give software_assets apple_id)",
                            info.bundle_id
                        )
                    })?,
            };
            let short = binary
                .short_version
                .as_deref()
                .unwrap_or(&info.short_version);
            let number = binary.version.as_deref().unwrap_or(&info.version);
            let delivery = Delivery {
                app: &app,
                platform: &binary.platform,
                short_version: short,
                version: number,
                file_name: &binary.file_name,
                bytes: &bytes,
            };
            let got = deliver(&engine, &delivery)
                .await
                .map_err(anyhow::Error::msg)?;
            println!(
                "{} ({} bytes) delivered as an API build upload: buildUploads {} {}",
                binary.file_name,
                bytes.len(),
                got.upload,
                got.state
            );
            for e in &got.errors {
                println!(
                    "\tERROR {}: \"{}\"",
                    e["code"].as_str().unwrap_or_default(),
                    e["description"].as_str().unwrap_or_default()
                );
            }
            match got.build {
                Some(build) if got.state == "COMPLETE" => {
                    println!(
                        "builds {build}: {} {short} ({number}) of app {app}, processingState PROCESSING",
                        binary.platform
                    );
                    Ok(())
                }
                _ => std::process::exit(1),
            }
        }
    }
}
