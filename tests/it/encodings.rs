//! Text in a legacy encoding is read right or refused — never garbled on its way to Partner
//! Center. Each sheet is what Excel on a local Windows saves as "CSV": English headers, local
//! names, in the code page of the market.

use csp_onboard::emulator::EmulatorConfig;
use csp_onboard::source::{SourceError, SourceOptions};
use encoding_rs::Encoding;

use crate::support::*;

const HEADER: &str = "domain,company_name,email,first_name,last_name,address_line1,city,postal_code,country,phone_number,organization_registration_number,associated_partner_id";

/// A sheet's rows: (domain prefix, company, first name, last name, street, city, postal code,
/// country, phone, registration number).
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

fn csv(rows: &[Row]) -> String {
    let mut text = format!("{HEADER}\r\n");
    for (domain, company, first, last, street, city, postal, country, phone, registration) in rows {
        text.push_str(&format!(
            "{domain},{company},info@{domain}.example,{first},{last},{street},{city},{postal},{country},{phone},{registration},{ADATUM}\r\n"
        ));
    }
    text
}

const TAIWAN: &[Row] = &[
    (
        "taipeibakery",
        "台北烘焙坊有限公司",
        "志明",
        "陳",
        "信義路五段7號",
        "台北市",
        "110",
        "TW",
        "",
        "",
    ),
    (
        "kaohsiungtea",
        "高雄茶葉股份有限公司",
        "淑芬",
        "林",
        "中正四路211號",
        "高雄市",
        "801",
        "TW",
        "",
        "",
    ),
    (
        "taichungtech",
        "台中精密科技",
        "俊傑",
        "黃",
        "台灣大道二段",
        "台中市",
        "403",
        "TW",
        "",
        "",
    ),
    (
        "tainanfoods",
        "台南食品行",
        "美玲",
        "張",
        "民族路二段",
        "台南市",
        "700",
        "TW",
        "",
        "",
    ),
    (
        "hsinchuchips",
        "新竹晶片設計公司",
        "家豪",
        "李",
        "科學園區力行路",
        "新竹市",
        "300",
        "TW",
        "",
        "",
    ),
];

const CHINA: &[Row] = &[
    (
        "beijingsoft",
        "北京软件开发有限公司",
        "伟",
        "王",
        "海淀区中关村大街1号",
        "北京市",
        "100080",
        "CN",
        "",
        "",
    ),
    (
        "shanghaitrade",
        "上海国际贸易公司",
        "芳",
        "李",
        "浦东新区世纪大道100号",
        "上海市",
        "200120",
        "CN",
        "",
        "",
    ),
    (
        "shenzhenled",
        "深圳光电科技有限公司",
        "强",
        "张",
        "南山区科技园",
        "深圳市",
        "518057",
        "CN",
        "",
        "",
    ),
    (
        "guangzhoufood",
        "广州食品集团",
        "静",
        "刘",
        "天河区体育西路",
        "广州市",
        "510620",
        "CN",
        "",
        "",
    ),
    (
        "hangzhoutea",
        "杭州龙井茶业",
        "磊",
        "陈",
        "西湖区龙井路",
        "杭州市",
        "310013",
        "CN",
        "",
        "",
    ),
];

const JAPAN: &[Row] = &[
    (
        "tokyosystems",
        "東京システム株式会社",
        "太郎",
        "山田",
        "千代田区丸の内一丁目",
        "東京都",
        "100-0005",
        "JP",
        "",
        "",
    ),
    (
        "osakafoods",
        "大阪食品工業",
        "花子",
        "佐藤",
        "北区梅田三丁目",
        "大阪市",
        "530-0001",
        "JP",
        "",
        "",
    ),
    (
        "nagoyaparts",
        "名古屋精密部品",
        "健一",
        "鈴木",
        "中村区名駅四丁目",
        "名古屋市",
        "450-0002",
        "JP",
        "",
        "",
    ),
    (
        "kyototextile",
        "京都織物株式会社",
        "由美",
        "高橋",
        "下京区四条通",
        "京都市",
        "600-8001",
        "JP",
        "",
        "",
    ),
    (
        "sapporobeer",
        "札幌ビール販売",
        "誠",
        "田中",
        "中央区北一条西",
        "札幌市",
        "060-0001",
        "JP",
        "",
        "",
    ),
];

const KOREA: &[Row] = &[
    (
        "seoultech",
        "서울테크주식회사",
        "민준",
        "김",
        "강남구 테헤란로 152",
        "서울특별시",
        "06236",
        "KR",
        "",
        "",
    ),
    (
        "busanport",
        "부산항만물류",
        "서연",
        "이",
        "중구 중앙대로 26",
        "부산광역시",
        "48939",
        "KR",
        "",
        "",
    ),
    (
        "incheonair",
        "인천항공서비스",
        "지훈",
        "박",
        "중구 공항로 272",
        "인천광역시",
        "22382",
        "KR",
        "",
        "",
    ),
    (
        "daegutextile",
        "대구섬유산업",
        "하은",
        "최",
        "북구 엑스코로 10",
        "대구광역시",
        "41515",
        "KR",
        "",
        "",
    ),
    (
        "gwangjufood",
        "광주식품유통",
        "도윤",
        "정",
        "서구 상무중앙로 7",
        "광주광역시",
        "61945",
        "KR",
        "",
        "",
    ),
];

const RUSSIA: &[Row] = &[
    (
        "moscowsoft",
        "ООО Московские Программы",
        "Иван",
        "Петров",
        "ул. Тверская д. 7",
        "Москва",
        "125009",
        "RU",
        "+74951234567",
        "1027700132195",
    ),
    (
        "spbtrade",
        "АО Петербургская Торговля",
        "Мария",
        "Иванова",
        "Невский проспект д. 28",
        "Санкт-Петербург",
        "191186",
        "RU",
        "+78121234567",
        "1037843000000",
    ),
    (
        "kazanoil",
        "ООО Казанская Нефть",
        "Алексей",
        "Смирнов",
        "ул. Баумана д. 15",
        "Казань",
        "420111",
        "RU",
        "+78432123456",
        "1021602840000",
    ),
    (
        "novosibtech",
        "ООО Сибирские Технологии",
        "Ольга",
        "Кузнецова",
        "Красный проспект д. 1",
        "Новосибирск",
        "630007",
        "RU",
        "+73832123456",
        "1025402450000",
    ),
    (
        "ekbmetal",
        "ПАО Уральский Металл",
        "Дмитрий",
        "Соколов",
        "ул. Ленина д. 24",
        "Екатеринбург",
        "620014",
        "RU",
        "+73432123456",
        "1026604940000",
    ),
];

const CENTRAL_EUROPE: &[Row] = &[
    (
        "pragueglass",
        "Pražské sklárny s.r.o.",
        "Jiří",
        "Dvořák",
        "Václavské náměstí 1",
        "Praha",
        "110 00",
        "CZ",
        "",
        "",
    ),
    (
        "brnosoftware",
        "Brněnský software a.s.",
        "Šárka",
        "Černá",
        "Masarykova 12",
        "Brno",
        "602 00",
        "CZ",
        "",
        "",
    ),
    (
        "ostravasteel",
        "Ostravská ocel spol. s r.o.",
        "Tomáš",
        "Novák",
        "Nádražní 27",
        "Ostrava",
        "702 00",
        "CZ",
        "",
        "",
    ),
    (
        "bratislavait",
        "Bratislavské IT služby",
        "Ľubomír",
        "Šťastný",
        "Štúrova 5",
        "Bratislava",
        "811 02",
        "SK",
        "",
        "",
    ),
    (
        "budapestbor",
        "Budapesti Borház Kft.",
        "Ödön",
        "Kovács",
        "Kossuth Lajos tér 1",
        "Budapest",
        "1055",
        "HU",
        "+3612345678",
        "01-09-123456",
    ),
    (
        "krakowpiekarnia",
        "Krakowska Piekarnia Sp. z o.o.",
        "Łukasz",
        "Wiśniewski",
        "ul. Floriańska 15",
        "Kraków",
        "31-019",
        "PL",
        "+48123456789",
        "1234567890",
    ),
];

const POLAND_AND_CZECHIA: &[Row] = &[
    (
        "gdanskstocznia",
        "Gdańska Stocznia Źródło",
        "Paweł",
        "Woźniak",
        "ul. Długa 45",
        "Gdańsk",
        "80-831",
        "PL",
        "+48581234567",
        "5830001234",
    ),
    (
        "poznanmeble",
        "Poznańskie Meble Śląsk",
        "Agnieszka",
        "Kamińska",
        "ul. Półwiejska 2",
        "Poznań",
        "61-888",
        "PL",
        "+48611234567",
        "7770001234",
    ),
    (
        "lodzprzedza",
        "Łódzka Przędzalnia",
        "Michał",
        "Zieliński",
        "ul. Piotrkowska 104",
        "Łódź",
        "90-926",
        "PL",
        "+48421234567",
        "7250001234",
    ),
    (
        "plzenpivo",
        "Plzeňský pivovar a.s.",
        "Václav",
        "Šimek",
        "U Prazdroje 7",
        "Plzeň",
        "301 00",
        "CZ",
        "",
        "",
    ),
    (
        "liberecauto",
        "Liberecké autodíly s.r.o.",
        "Zdeněk",
        "Růžička",
        "Tř. 1. máje 23",
        "Liberec",
        "460 01",
        "CZ",
        "",
        "",
    ),
];

const WESTERN_EUROPE: &[Row] = &[
    (
        "parisboulangerie",
        "Boulangerie Élysée",
        "François",
        "Lefèvre",
        "12 rue de la Paix",
        "Paris",
        "75002",
        "FR",
        "",
        "",
    ),
    (
        "lyonsoierie",
        "Soierie Lyonnaise & Cie",
        "Hélène",
        "Dupré",
        "3 quai Saint-Vincent",
        "Lyon",
        "69001",
        "FR",
        "",
        "",
    ),
    (
        "munichbrau",
        "Münchner Bräuhaus GmbH",
        "Jürgen",
        "Müller",
        "Maximilianstraße 4",
        "München",
        "80539",
        "DE",
        "",
        "",
    ),
    (
        "kolnstahl",
        "Kölner Stahlbau AG",
        "Käthe",
        "Schröder",
        "Hohe Straße 52",
        "Köln",
        "50667",
        "DE",
        "",
        "",
    ),
    (
        "zurichuhren",
        "Zürcher Uhren",
        "René",
        "Grüninger",
        "Bahnhofstrasse 21",
        "Zürich",
        "8001",
        "CH",
        "",
        "",
    ),
];

/// `text` in `encoding` (the test texts all fit theirs).
fn encoded(encoding: &'static Encoding, text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding.encode(text);
    assert!(!unmappable, "the test text fits {}", encoding.name());
    bytes.into_owned()
}

/// Writes `rows` in `encoding` and reads them back through the library's reader: either every
/// cell is exactly the text written, or the read is refused for its encoding.
fn read_right_or_refused(name: &str, encoding: &'static Encoding, rows: &[Row]) -> bool {
    let ws = Workspace::new();
    let text = csv(rows);
    let (bytes, _, unmappable) = encoding.encode(&text);
    assert!(
        !unmappable,
        "{name}: the test text fits {}",
        encoding.name()
    );
    let path = ws.write("customers.csv", &bytes);
    match read_sheet(&path, &SourceOptions::default()) {
        Ok(sheet) => {
            assert_eq!(sheet.info.encoding, Some(encoding.name()), "{name}");
            for (i, row) in rows.iter().enumerate() {
                let number = i as u64 + 2;
                assert_eq!(sheet.cell(number, "company_name"), row.1, "{name}");
                assert_eq!(sheet.cell(number, "first_name"), row.2, "{name}");
                assert_eq!(sheet.cell(number, "address_line1"), row.4, "{name}");
                assert_eq!(sheet.cell(number, "city"), row.5, "{name}");
            }
            true
        }
        Err(SourceError::UnsureEncoding { .. }) => false,
        Err(other) => panic!("{name}: {other}"),
    }
}

#[test]
fn legacy_encoded_sheets_are_read_right_or_refused_never_garbled() {
    use encoding_rs::*;
    let cases: [(&str, &'static Encoding, &[Row]); 8] = [
        ("Big5 (Traditional Chinese)", BIG5, TAIWAN),
        ("GBK (Simplified Chinese)", GBK, CHINA),
        ("Shift_JIS (Japanese)", SHIFT_JIS, JAPAN),
        ("EUC-KR (Korean)", EUC_KR, KOREA),
        ("windows-1251 (Russian)", WINDOWS_1251, RUSSIA),
        (
            "windows-1250 (Central European)",
            WINDOWS_1250,
            CENTRAL_EUROPE,
        ),
        ("ISO-8859-2 (Polish, Czech)", ISO_8859_2, POLAND_AND_CZECHIA),
        (
            "windows-1252 (Western European)",
            WINDOWS_1252,
            WESTERN_EUROPE,
        ),
    ];
    let mut read = Vec::new();
    for (name, encoding, rows) in cases {
        if read_right_or_refused(name, encoding, rows) {
            read.push(name);
        }
    }
    // Refusing is safe, but a detector that refused everything would be no detector.
    assert_eq!(read.len(), 8, "read right: {read:?}");
}

#[test]
fn a_big5_sheet_creates_its_customers_with_their_own_names() {
    let job = Job::new(EmulatorConfig::default());
    let bytes = encoded(encoding_rs::BIG5, &csv(TAIWAN));
    let sheet = job.ws.write("customers.csv", &bytes);

    let ran = job.run(&sheet, &[]);

    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("read as Big5 (detected from its bytes)"),
        "{}",
        ran.stderr
    );
    let mut names: Vec<String> = job
        .emulator
        .customers()
        .iter()
        .map(|c| c.company_name.clone())
        .collect();
    names.sort();
    let mut want: Vec<String> = TAIWAN.iter().map(|r| r.1.to_string()).collect();
    want.sort();
    assert_eq!(names, want);
}

#[test]
fn validate_says_which_encoding_it_read() {
    let ws = Workspace::new();
    let bytes = encoded(encoding_rs::WINDOWS_1251, &csv(RUSSIA));
    let path = ws.write("customers.csv", &bytes);

    let v = validate_json(&path, &[]);

    assert_eq!(v.code, 0, "{}", v.doc);
    let warnings = v.doc["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| w["message"]
            == "the file was read as windows-1251 (detected from its bytes); if names look wrong, say the encoding with `--encoding`"),
        "{warnings:?}"
    );
}

#[test]
fn a_file_pasted_together_from_two_encodings_is_refused_naming_both() {
    let ws = Workspace::new();
    // The first rows in windows-1250, the rest in ISO-8859-2: both decode every byte, and some
    // letters differ (š, ś, ź, ť).
    let head = encoded(encoding_rs::WINDOWS_1250, &csv(CENTRAL_EUROPE));
    let body = csv(POLAND_AND_CZECHIA);
    let body = body.split_once("\r\n").unwrap().1;
    let (tail, _, _) = encoding_rs::ISO_8859_2.encode(body);
    let path = ws.write("customers.csv", [&head[..], &tail[..]].concat());

    let out = csp_onboard()
        .args(["validate", "--format", "json"])
        .arg(&path)
        .output()
        .unwrap();

    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: cannot tell the text encoding of"),
        "{stderr}"
    );
    assert!(stderr.contains("--encoding"), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["error"].as_str().unwrap().contains("encoding"), "{doc}");
}

#[test]
fn an_encoding_the_detector_is_not_trusted_with_is_refused_by_name_and_named_works() {
    let ws = Workspace::new();
    let rows: &[Row] = &[
        (
            "athenssoft",
            "Αθηναϊκή Εταιρεία Λογισμικού",
            "Γιώργος",
            "Παπαδόπουλος",
            "Οδός Ερμού 10",
            "Αθήνα",
            "10563",
            "GR",
            "",
            "",
        ),
        (
            "thessfoods",
            "Θεσσαλονίκη Τρόφιμα",
            "Μαρία",
            "Γεωργίου",
            "Οδός Τσιμισκή 5",
            "Θεσσαλονίκη",
            "54624",
            "GR",
            "",
            "",
        ),
        (
            "patrasport",
            "Λιμάνι Πάτρας",
            "Νίκος",
            "Νικολάου",
            "Οδός Αγίου Ανδρέου 1",
            "Πάτρα",
            "26221",
            "GR",
            "",
            "",
        ),
    ];
    let bytes = encoded(encoding_rs::WINDOWS_1253, &csv(rows));
    let path = ws.write("customers.csv", &bytes);

    let refused = validate_json(&path, &[]);
    assert_eq!(refused.code, 2, "{}", refused.doc);
    assert!(
        refused.stderr.contains("does not guess"),
        "{}",
        refused.stderr
    );

    let named = read_sheet(
        &path,
        &SourceOptions {
            encoding: Encoding::for_label(b"windows-1253"),
            ..SourceOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        named.cell(2, "company_name"),
        "Αθηναϊκή Εταιρεία Λογισμικού"
    );
    let accepted = validate_json(&path, &["--encoding", "windows-1253"]);
    assert_eq!(accepted.code, 0, "{}", accepted.doc);
}

#[test]
fn utf16_without_a_byte_order_mark_is_read_as_utf16() {
    let ws = Workspace::new();
    let text = csv_text(&[Customer::valid("utfsixteen").with("company_name", "Ünïcödé Tøys")]);
    let bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let path = ws.write("customers.csv", bytes);

    let sheet = read_sheet(&path, &SourceOptions::default()).unwrap();

    assert_eq!(sheet.info.encoding, Some("UTF-16LE"));
    assert_eq!(sheet.cell(2, "company_name"), "Ünïcödé Tøys");
}

#[test]
fn a_legacy_byte_late_in_a_utf8_looking_file_is_decided_from_where_it_appears() {
    // 64 KiB and more of plain ASCII rows, then Big5 names: the sample says UTF-8, the bytes
    // later say otherwise.
    let ws = Workspace::new();
    let mut rows = customers("ascii", 700);
    rows.extend(TAIWAN.iter().map(|row| {
        Customer::valid(row.0)
            .with("company_name", row.1)
            .with("city", row.5)
    }));
    let text = csv_text(&rows);
    assert!(text.len() > 64 * 1024);
    let bytes = encoded(encoding_rs::BIG5, &text);
    let path = ws.write("customers.csv", &bytes);

    let sheet = read_sheet(&path, &SourceOptions::default()).unwrap();

    assert_eq!(sheet.info.encoding, Some("Big5"));
    assert_eq!(sheet.cell(702, "company_name"), "台北烘焙坊有限公司");
}
