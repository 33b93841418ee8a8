//! Sheets as distributors in each market really have them — local headers, Excel's local CSV
//! (semicolons, the Windows code page, a `sep=` line, a title row) — map and validate with no
//! flag and no template; the per-country rules speak the user's language of codes.

use encoding_rs::{BIG5, Encoding, WINDOWS_1252};

use crate::support::*;

/// One market's sheet: its header row and rows, `;`-separated as Excel saves "CSV" in that locale.
struct Market {
    name: &'static str,
    header: &'static str,
    rows: &'static [&'static str],
}

const DUTCH: Market = Market {
    name: "Dutch",
    header: "Domeinnaam;Bedrijfsnaam;E-mailadres;Voornaam;Achternaam;Adres;Postcode;Plaats;Land;Telefoonnummer;Reseller-ID;KvK-nummer",
    rows: &[
        "bakkerijjansen1;Bakkerij Jansen B.V.;info@bakkerijjansen.nl;Piet;Jansen;Dorpsstraat 1;3511 AB;Utrecht;NL;030 123 4567;5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01;12345678",
        "vandenberg2;Van den Berg & Zonen;inkoop@vdberg.nl;Anneke;van den Berg;Kerkstraat 12;1017GC;Amsterdam;NL;+31 20 555 0101;5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01;87654321",
    ],
};

const FRENCH: Market = Market {
    name: "French",
    header: "Nom de domaine;Raison sociale;Adresse e-mail;Prénom;Nom;Adresse;Code postal;Ville;Pays;Téléphone;ID revendeur",
    rows: &[
        "boulangeriedupont;Boulangerie Dupont SARL;contact@dupont.fr;Élodie;Dupont;12 rue de la Paix;75002;Paris;FR;01 42 68 53 00;5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01",
        "cafeleffel;Café de l'Œuf;bonjour@cafe.fr;François;Lefèvre;3 place Bellecour;69002;Lyon;FR;04 78 42 10 10;5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01",
    ],
};

const SWEDISH: Market = Market {
    name: "Swedish",
    header: "Domännamn;Företagsnamn;E-postadress;Förnamn;Efternamn;Gatuadress;Postnummer;Ort;Land;Telefon;Återförsäljar-ID",
    rows: &[
        "malmobageri;Malmö Bageri AB;info@malmobageri.se;Åsa;Öberg;Södra Förstadsgatan 4;211 43;Malmö;SE;040-123 45 67;5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01",
        "goteborgsfisk;Göteborgs Fisk AB;order@gbgfisk.se;Björn;Ekström;Fiskhamnsgatan 2;41458;Göteborg;SE;031 12 34 56;5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01",
    ],
};

const GERMAN: Market = Market {
    name: "German",
    header: "Domänenname;Firmenname;E-Mail-Adresse;Vorname;Nachname;Straße;PLZ;Ort;Land;Telefon;Händler-ID",
    rows: &[
        "baeckereimueller;Bäckerei Müller GmbH;info@mueller.de;Jürgen;Müller;Hauptstraße 5;01067;Dresden;DE;0351 1234567;5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01",
        "weissbier;Weißbräu KG;bestellung@weiss.de;Grete;Weiß;Bräuhausgasse 1;80331;München;DE;+49 89 123456;5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01",
    ],
};

const TAIWANESE: Market = Market {
    name: "Traditional Chinese",
    header: "網域,公司名稱,電子郵件,名字,姓氏,地址,郵遞區號,城市,國家/地區,電話,經銷商ID",
    rows: &[
        "taipeibakery,台北烘焙坊有限公司,info@taipeibakery.tw,美玲,王,信義路五段7號,110,台北市,TW,02 2345 6789,5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01",
        "kaohsiungtea,高雄茶行股份有限公司,tea@khtea.tw,志明,陳,中正四路211號,80147,高雄市,TW,07 123 4567,5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01",
    ],
};

fn sheet(market: &Market, separator: char) -> String {
    let mut text = String::new();
    for line in std::iter::once(market.header).chain(market.rows.iter().copied()) {
        text.push_str(&line.replace(';', &separator.to_string()));
        text.push_str("\r\n");
    }
    text
}

fn encoded(text: &str, encoding: &'static Encoding) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding.encode(text);
    assert!(!unmappable, "the test sheet fits {}", encoding.name());
    bytes.into_owned()
}

/// Every row of the sheet maps and is valid, with no template and no flag.
fn assert_all_valid(result: &Validation, rows: usize, what: &str) {
    assert_eq!(result.code, 0, "{what}: {}\n{}", result.doc, result.stderr);
    assert_eq!(result.doc["valid"], rows, "{what}: {}", result.doc);
    assert_eq!(result.doc["invalid"], 0, "{what}: {}", result.doc);
}

#[test]
fn excel_csv_of_each_market_maps_and_validates_with_no_flag() {
    let ws = Workspace::new();
    for market in [&DUTCH, &FRENCH, &SWEDISH, &GERMAN] {
        let path = ws.write(
            &format!("{}.csv", market.name),
            encoded(&sheet(market, ';'), WINDOWS_1252),
        );
        let result = validate_json(&path, &[]);
        assert_all_valid(&result, market.rows.len(), market.name);
    }
    let dutch = validate_json(&ws.path("Dutch.csv"), &[]);
    let warnings: Vec<&str> = dutch.doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["message"].as_str())
        .collect();
    assert!(
        warnings.contains(&"column `KvK-nummer` maps to no field and is ignored"),
        "a national id Partner Center does not take in NL is not sent: {warnings:?}"
    );
}

#[test]
fn chinese_sheets_map_in_big5_and_in_utf8() {
    let ws = Workspace::new();
    let text = sheet(&TAIWANESE, ',');
    let big5 = ws.write("客戶.csv", encoded(&text, BIG5));
    let utf8 = ws.write("客戶-utf8.csv", text.as_bytes());
    for path in [big5, utf8] {
        let result = validate_json(&path, &[]);
        assert_all_valid(&result, TAIWANESE.rows.len(), &path.display().to_string());
    }
}

#[test]
fn a_local_workbook_maps_and_the_culture_follows_the_country() {
    let job = Job::new(Default::default());
    let rows: Vec<Option<Vec<Cell>>> = std::iter::once(DUTCH.header)
        .chain(DUTCH.rows.iter().copied())
        .map(|line| Some(line.split(';').map(|c| Cell::Text(c.into())).collect()))
        .collect();
    let path = job.ws.xlsx("klanten.xlsx", &[("Klanten", rows)]);
    let ran = job.run(&path, &[]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let created = job.emulator.customers();
    assert_eq!(created.len(), 2);
    for customer in &created {
        assert_eq!(customer.billing_profile["culture"], "nl-NL");
        assert_eq!(customer.billing_profile["language"], "nl");
    }
    let names: Vec<&str> = created.iter().map(|c| c.company_name.as_str()).collect();
    assert!(names.contains(&"Van den Berg & Zonen"), "{names:?}");
}

#[test]
fn a_title_row_and_excels_sep_line_are_not_the_header() {
    let ws = Workspace::new();
    let body = sheet(&DUTCH, ';');
    let titled = ws.write(
        "titled.csv",
        format!("Klantenlijst november;;\r\n;;\r\n{body}"),
    );
    let result = validate_json(&titled, &[]);
    assert_all_valid(&result, 2, "title row");
    let rows: Vec<u64> = result.doc["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["row"].as_u64().unwrap())
        .collect();
    assert!(rows.is_empty());
    let warnings = result.doc["warnings"].to_string();
    assert!(
        warnings
            .contains("row 1 (`Klantenlijst november`) is above the header (row 3) and is ignored"),
        "{warnings}"
    );

    // Excel's `sep=` line names the delimiter and is no row: the header is row 1, as Excel shows.
    let sep = ws.write("sep.csv", format!("sep=;\r\n{body}"));
    let bad = body.replace("3511 AB", "3511");
    let sep_bad = ws.write("sep-bad.csv", format!("sep=;\r\n{bad}"));
    assert_all_valid(&validate_json(&sep, &[]), 2, "sep line");
    let result = validate_json(&sep_bad, &[]);
    assert_eq!(result.code, 1);
    assert_eq!(result.doc["errors"][0]["row"], 2, "{}", result.doc);
    assert_eq!(
        result.doc["errors"][0]["message"],
        "`3511` is not a postal code of `NL`: expected the form `1234 AB`"
    );
}

#[test]
fn country_and_state_names_and_excel_damage_get_their_own_message() {
    let ws = Workspace::new();
    let header =
        "domain,company,email,first name,last name,street,city,state,zip,country,phone,reseller id";
    let rows = [
        "usa1,A,a@a.com,A,B,1 Main St,Boston,MA,02116,USA,6175550142,5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01",
        "mass1,A,a@a.com,A,B,1 Main St,Boston,Massachusetts,02116,US,6175550142,5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01",
        "dresden1,A,a@a.com,A,B,Hauptstr. 1,Dresden,,1067,DE,03511234567,5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01",
        "sci1,A,a@a.com,A,B,1 Main St,Boston,MA,02116,US,3.12E+09,5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01",
        "words1,A,a@a.com,A,B,1 Main St,Boston,MA,02116,US,call me,5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01",
        "taiwan1,A,a@a.com,A,B,1 Rd,Taipei,,110,台灣,0223456789,5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01",
    ];
    let path = ws.write("names.csv", format!("{header}\n{}\n", rows.join("\n")));
    let result = validate_json(&path, &[]);
    assert_eq!(result.code, 1);
    let messages: Vec<(u64, String)> = result.doc["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().unwrap(),
                e["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        (
            2,
            "`USA` is a country's name, not its code: Partner Center takes the two-letter ISO 3166-1 code, here `US`",
        ),
        (
            3,
            "`Massachusetts` is the name, not the code: Partner Center takes the USPS code, here `MA`",
        ),
        (
            4,
            "a postal code in `DE` has 5 digits; did Excel drop a leading zero? `1067` → `01067`? Format the column as text so the zeros stay",
        ),
        (
            5,
            "`3.12E+09` is a number Excel wrote in scientific notation, and its last digits are lost: format the column as text and type the number again",
        ),
        (6, "`call me` is not a phone number: it has no digits"),
        (
            7,
            "`台灣` is a country's name, not its code: Partner Center takes the two-letter ISO 3166-1 code, here `TW`",
        ),
    ];
    let expected: Vec<(u64, String)> = expected.iter().map(|(r, m)| (*r, m.to_string())).collect();
    assert_eq!(messages, expected);
}

#[test]
fn a_template_that_only_adds_aliases_keeps_the_defaults() {
    let ws = Workspace::new();
    let template = ws.write("t.toml", "[aliases]\ncompany_name = \"Klant\"\n");
    let text = "Domein;Klant;E-mailadres;Voornaam;Achternaam;Straat;Postcode;Plaats;Land;Reseller ID\r\n\
                jansen1;Jansen;a@jansen.nl;Piet;Jansen;Dorpsstraat 1;3511 AB;Utrecht;NL;5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01\r\n";
    let path = ws.write("k.csv", text);
    let result = validate_json(&path, &["--template", template.to_str().unwrap()]);
    assert_all_valid(&result, 1, "aliases only");
}

#[test]
fn partner_centers_messages_come_back_in_the_locale_asked_for() {
    let job = Job::new(Default::default());
    let unknown = "0badc0de-0000-4000-8000-000000000001";
    let text = format!(
        "domain,company,email,first name,last name,street,zip,city,country,reseller id\n\
         onbekend1,Onbekend BV,a@onbekend.nl,Piet,Jansen,Dorpsstraat 1,3511 AB,Utrecht,NL,{unknown}\n"
    );
    let path = job.ws.write("klanten.csv", text);
    let ran = job.run(&path, &["--locale", "nl_NL.UTF-8"]);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let error = format!("{}{}", ran.stdout, ran.stderr);
    assert!(
        error.contains(&format!(
            "`{unknown}` is geen geldige indirecte reseller van deze partner"
        )),
        "{error}"
    );
}

#[test]
fn template_lang_writes_a_starter_sheet_that_validates_in_each_language() {
    let ws = Workspace::new();
    for (lang, first_header) in [
        ("nl", "Domeinnaam;Bedrijfsnaam;E-mailadres"),
        ("fr", "Nom de domaine;Raison sociale;Adresse e-mail"),
        ("zh-TW", "網域,公司名稱,電子郵件"),
        ("ja", "ドメイン,会社名,メールアドレス"),
    ] {
        let out = csp_onboard()
            .args(["template", "--lang", lang])
            .arg(ws.path(lang))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tag = if lang == "zh-TW" { "zh-Hant" } else { lang };
        let csv = ws.path(lang).join(format!("customers-{tag}.csv"));
        let text = std::fs::read_to_string(&csv).unwrap();
        assert!(
            text.trim_start_matches('\u{feff}')
                .starts_with(first_header),
            "{lang}: {text}"
        );
        for sheet in [csv, ws.path(lang).join(format!("customers-{tag}.xlsx"))] {
            let result = validate_json(&sheet, &[]);
            assert_eq!(result.code, 0, "{lang}: {}", result.doc);
            assert_eq!(result.doc["warnings"], serde_json::json!([]), "{lang}");
        }
    }
    let refused = csp_onboard()
        .args(["template", "--lang", "tlh"])
        .arg(ws.path("x"))
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("error: `tlh` is not a language csp-onboard has headers for")
    );
}

#[test]
fn a_data_sheet_with_a_title_row_is_found_behind_an_instructions_sheet() {
    let ws = Workspace::new();
    let mut lines: Vec<Vec<&str>> = vec![vec!["Klantenlijst november"]];
    lines.push(DUTCH.header.split(';').collect());
    for row in DUTCH.rows {
        lines.push(row.split(';').collect());
    }
    let instructions = vec![
        vec!["Vul het tabblad Klanten in"],
        vec!["Eén klant per regel"],
    ];
    let as_cells = |rows: &[Vec<&str>]| -> Vec<Option<Vec<Cell>>> {
        rows.iter()
            .map(|r| Some(r.iter().map(|c| Cell::Text(c.to_string())).collect()))
            .collect()
    };
    let xlsx = ws.xlsx(
        "klanten.xlsx",
        &[
            ("Uitleg", as_cells(&instructions)),
            ("Klanten", as_cells(&lines)),
        ],
    );
    let result = validate_json(&xlsx, &[]);
    assert_all_valid(&result, DUTCH.rows.len(), "xlsx");
    let warnings = result.doc["warnings"].to_string();
    assert!(
        warnings.contains("row 1 (`Klantenlijst november`) is above the header (row 2)"),
        "{warnings}"
    );

    // An instructions sheet that lists the headers above an example row is a second candidate:
    // not told apart by guessing.
    let mut example = vec![vec!["Kopieer deze kolommen:"]];
    example.push(DUTCH.header.split(';').collect());
    example.push(DUTCH.rows[0].split(';').collect());
    let two = ws.xlsx(
        "twee.xlsx",
        &[
            ("Uitleg", as_cells(&example)),
            ("Klanten", as_cells(&lines)),
        ],
    );
    let refused = validate_json(&two, &[]);
    assert_eq!(refused.code, 2, "{}", refused.doc);
    assert!(refused.stderr.contains("--sheet"), "{}", refused.stderr);
    assert_all_valid(&validate_json(&two, &["--sheet", "Klanten"]), 2, "named");

    // Workbooks read whole (ods, xls, xlsb) choose by the first row; a title row is fine once the
    // sheet is named.
    let ods = ws.write(
        "klanten.ods",
        ods_package(&ods_content(&[
            ("Uitleg", instructions.clone()),
            ("Klanten", lines.clone()),
        ])),
    );
    assert_all_valid(&validate_json(&ods, &["--sheet", "Klanten"]), 2, "ods");
}

#[test]
fn a_taken_domain_is_recognised_whatever_the_language_of_the_answer() {
    let job = Job::new(csp_onboard::emulator::EmulatorConfig {
        taken_domains: vec!["bezet1.onmicrosoft.com".into()],
        ..Default::default()
    });
    let reseller = "5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01";
    let text = format!(
        "domain,company,email,first name,last name,street,zip,city,country,reseller id\n\
         bezet1,Bezet BV,a@bezet.nl,Piet,Jansen,Dorpsstraat 1,3511 AB,Utrecht,NL,{reseller}\n\
         vrij1,Vrij BV,a@vrij.nl,Piet,Jansen,Dorpsstraat 2,3511 AB,Utrecht,NL,{reseller}\n"
    );
    let path = job.ws.write("klanten.csv", text);
    // Partner Center answers the taken domain in Dutch ("De domeinnaam … is niet beschikbaar"),
    // without the English word a client could read: the domain itself is looked up.
    let ran = job.run(&path, &["--locale", "nl-NL"]);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let results = job.results();
    let row = |domain: &str| {
        results
            .iter()
            .find(|r| r["domain"] == domain)
            .unwrap_or_else(|| panic!("{domain}: {results:?}"))
    };
    assert_eq!(row("vrij1.onmicrosoft.com")["state"], "created");
    let taken = row("bezet1.onmicrosoft.com");
    assert_eq!(taken["state"], "failed");
    assert_eq!(
        taken["error_message"],
        "the domain `bezet1.onmicrosoft.com` is taken, and not by one of this partner's customers"
    );
}

#[test]
fn a_refusal_in_another_language_with_the_domain_free_fails_the_row_once() {
    let job = Job::new(csp_onboard::emulator::EmulatorConfig {
        invalid_domains: vec!["ongeldig1.onmicrosoft.com".into()],
        ..Default::default()
    });
    let reseller = "5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01";
    let text = format!(
        "domain,company,email,first name,last name,street,zip,city,country,reseller id\n\
         ongeldig1,Ongeldig BV,a@ongeldig.nl,Piet,Jansen,Dorpsstraat 1,3511 AB,Utrecht,NL,{reseller}\n"
    );
    let path = job.ws.write("klanten.csv", text);
    let ran = job.run(&path, &["--locale", "nl-NL"]);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let results = job.results();
    assert_eq!(results[0]["state"], "failed");
    assert_eq!(
        results[0]["error_message"],
        "Het bedrijfsprofiel is ongeldig"
    );
    let creates = job
        .emulator
        .log()
        .iter()
        .filter(|e| e.path == "/v1/customers" && e.method == "POST")
        .count();
    assert_eq!(
        creates, 1,
        "looked up, found free, failed: never sent again"
    );
}
