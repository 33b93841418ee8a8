//! Each reseller receives its own customers' admin credentials and nobody else's: one private file
//! per reseller, named by its id, sealed to the reseller's own key when the configuration names
//! one. The credentials file says who, how to sign in, and which row.

use std::os::unix::fs::PermissionsExt;

use csp_onboard::emulator::EmulatorConfig;

use crate::support::*;

const PROSEWARE: &str = "7f309c12-5d4e-4b80-9ca3-3e4f5a6b7c03";

/// A job with customers of three resellers, run to its end.
fn three_resellers() -> Job {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&[
        Customer::valid("adatum1").with("external_id", "A-1"),
        Customer::valid("litware1").with("associated_partner_id", LITWARE),
        Customer::valid("adatum2"),
        Customer::valid("proseware1").with("associated_partner_id", PROSEWARE),
        Customer::valid("litware2").with("associated_partner_id", LITWARE),
    ]);
    let ran = job.run(&sheet, &[]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    job
}

fn export(job: &Job, args: &[&str]) -> Ran {
    let mut cmd = job.command(&["export", "--credentials", "--identity"]);
    cmd.arg(&job.identity)
        .arg("--journal")
        .arg(&job.journal)
        .args(args);
    Job::finish(cmd)
}

#[test]
fn the_credentials_file_says_who_how_to_sign_in_and_which_row() {
    let job = three_resellers();

    let lines = job.credentials();

    let first = lines
        .iter()
        .find(|l| l["domain"] == "adatum1.onmicrosoft.com")
        .unwrap();
    assert_eq!(first["sign_in_name"], "admin@adatum1.onmicrosoft.com");
    assert_eq!(first["credentials_lost"], "false");
    assert_eq!(first["row"], "2");
    assert_eq!(first["external_id"], "A-1");
    assert_eq!(first["reseller_name"], "Adatum Resellers");
    assert_eq!(
        first["password"],
        job.issued("adatum1.onmicrosoft.com").password
    );
    let status = job.status();
    assert_eq!(status["by_reseller"][LITWARE]["name"], "Litware Partners");
    assert_eq!(status["by_reseller"][LITWARE]["created"], 2);
}

#[test]
fn bundles_hold_exactly_each_resellers_customers_and_are_private() {
    let job = three_resellers();
    let dir = job.ws.path("bundles");

    let ran = export(&job, &["--by-reseller", dir.to_str().unwrap()]);

    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            format!("credentials-adatum-resellers-{ADATUM}.csv"),
            format!("credentials-litware-partners-{LITWARE}.csv"),
            format!("credentials-proseware-it-{PROSEWARE}.csv"),
        ]
    );
    for (reseller, want) in [
        (ADATUM, vec!["adatum1", "adatum2"]),
        (LITWARE, vec!["litware1", "litware2"]),
        (PROSEWARE, vec!["proseware1"]),
    ] {
        let path = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().contains(reseller))
            .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
        let lines = read_csv(&path);
        let domains: Vec<String> = lines.iter().map(|l| l["domain"].clone()).collect();
        let want: Vec<String> = want
            .iter()
            .map(|p| format!("{p}.onmicrosoft.com"))
            .collect();
        assert_eq!(domains, want, "{reseller}: exactly its own customers");
        for line in &lines {
            assert_eq!(line["associated_partner_id"], reseller);
            assert_eq!(line["password"], job.issued(&line["domain"]).password);
        }
    }
    assert!(
        ran.stderr
            .contains("wrote the credentials of 5 customer(s) in 3 file(s)"),
        "{}",
        ran.stderr
    );
}

#[test]
fn a_reseller_with_its_own_key_gets_its_bundle_sealed_to_it() {
    let job = three_resellers();
    let (litware_key, litware_recipient) = {
        let (contents, recipient) = csp_onboard::credentials::generate_identity();
        let path = job.ws.path("litware-key.txt");
        csp_onboard::credentials::write_private_file(
            &path,
            secrecy::ExposeSecret::expose_secret(&contents).as_bytes(),
        )
        .unwrap();
        (path, recipient)
    };
    job.ws.write_private(
        "csp-onboard.toml",
        format!("[resellers.\"{LITWARE}\"]\nrecipient = \"{litware_recipient}\"\n"),
    );
    let dir = job.ws.path("bundles");

    let ran = export(&job, &["--by-reseller", dir.to_str().unwrap()]);

    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let sealed = dir.join(format!("credentials-litware-partners-{LITWARE}.csv.age"));
    let bytes = std::fs::read(&sealed).unwrap();
    assert!(bytes.starts_with(b"age-encryption.org/v1"), "an age file");
    let password = job.issued("litware1.onmicrosoft.com").password;
    assert!(
        !String::from_utf8_lossy(&bytes).contains(&password),
        "no plaintext"
    );
    // The reseller opens it with its own key.
    let identity: age::x25519::Identity = std::fs::read_to_string(&litware_key)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .parse()
        .unwrap();
    let plain = age::decrypt(&identity, &bytes).unwrap();
    let text = String::from_utf8(plain).unwrap();
    assert!(text.contains(&password), "{text}");
    assert!(
        text.contains("litware2.onmicrosoft.com") && !text.contains("adatum"),
        "{text}"
    );
    assert!(
        dir.join(format!("credentials-adatum-resellers-{ADATUM}.csv"))
            .exists()
    );
    assert!(
        ran.stderr.contains("sealed to the reseller's own key"),
        "{}",
        ran.stderr
    );
}

#[test]
fn the_summary_says_how_many_had_no_password() {
    let mut config = EmulatorConfig {
        seed: 4,
        ..EmulatorConfig::default()
    };
    config.faults.drop_after_create_rate = 0.5;
    let job = Job::new(config);
    let sheet = job.sheet(&customers("nopassword", 8));
    assert_eq!(job.run(&sheet, &[]).code, 0);
    let lost = job.status()["credentials_lost"].as_i64().unwrap();
    assert!(lost > 0, "some responses were dropped");
    let out = job.ws.path("passwords.csv");

    let ran = export(&job, &["--out", out.to_str().unwrap()]);

    assert!(
        ran.stderr.contains(&format!("wrote the credentials of 8 customer(s) to {} (readable by you only); {lost} with no password", out.display())),
        "{}",
        ran.stderr
    );
    let lines = read_csv(&out);
    let flagged = lines
        .iter()
        .filter(|l| l["credentials_lost"] == "true")
        .count();
    assert_eq!(flagged as i64, lost);
    for line in lines.iter().filter(|l| l["credentials_lost"] == "true") {
        assert_eq!(line["password"], "");
        assert_eq!(line["sign_in_name"], format!("admin@{}", line["domain"]));
    }
}
