//! Integration tests of the price loader (`folio::data::load_prices`), the writer and the
//! selection logic of `PricePanel`: every error names the file, the line, the column (number and
//! name) where one applies, and the reason, and every accepted input loads exactly as documented.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use folio::data::{
    CarriedForward, DataSpan, Listing, MissingPrices, PricePanel, Stamp, TimeIndex, load_prices, read_prices,
    write_prices,
};
use folio::data::{DataError, Location};
use ndarray::{Array2, array};
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------------
// helpers

fn manifest(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn dates(texts: &[&str]) -> TimeIndex {
    TimeIndex::Dates(texts.iter().map(|t| date(t)).collect())
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Write `text` to `prices.csv` in a fresh temporary folder.
fn temp_csv(text: &str) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prices.csv");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn load_text(text: &str) -> (TempDir, PathBuf, PricePanel) {
    let (dir, path) = temp_csv(text);
    let panel = load_prices(&path).unwrap_or_else(|e| panic!("{text:?} should load, got: {e}"));
    (dir, path, panel)
}

/// Load `text` and check that it fails with exactly this location and reason, and that the
/// message reads `expected` with `{file}` standing for the file's path.
fn expect_invalid(
    text: &str,
    line: Option<u64>,
    column: Option<(usize, &str)>,
    reason: &str,
    expected: &str,
) {
    let (_dir, path) = temp_csv(text);
    let error = match load_prices(&path) {
        Ok(panel) => panic!("{text:?} should be rejected, but loaded {panel:?}"),
        Err(e) => e,
    };
    let message = error.to_string();
    match &error {
        DataError::Invalid { location, reason: got } => {
            let want =
                Location { file: path.clone(), line, column: column.map(|(n, name)| (n, name.to_string())) };
            assert_eq!(location, &want, "location of the error for {text:?}");
            assert_eq!(got, reason, "reason of the error for {text:?}");
        }
        other => panic!("expected DataError::Invalid for {text:?}, got {other:?}"),
    }
    assert_eq!(message, expected.replace("{file}", &path.display().to_string()));
}

fn selection_error(result: Result<folio::data::Selection, DataError>) -> String {
    match result {
        Ok(s) => panic!("selection should fail, got {:?}", s.panel),
        Err(DataError::Selection(message)) => message,
        Err(other) => panic!("expected DataError::Selection, got {other:?}"),
    }
}

/// Element-wise bit equality, with any NaN equal to any NaN.
fn assert_same_bits(a: &Array2<f64>, b: &Array2<f64>) {
    assert_eq!(a.dim(), b.dim());
    for ((idx, x), y) in a.indexed_iter().zip(b.iter()) {
        if x.is_nan() {
            assert!(y.is_nan(), "cell {idx:?}: {x} vs {y}");
        } else {
            assert_eq!(x.to_bits(), y.to_bits(), "cell {idx:?}: {x:e} vs {y:e}");
        }
    }
}

fn folder_entries(dir: &Path) -> Vec<String> {
    let mut entries: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    entries
}

// ---------------------------------------------------------------------------------------------
// header problems

#[test]
fn empty_file_is_rejected_naming_the_file() {
    for text in ["", "   \n\n  \r\n"] {
        expect_invalid(
            text,
            None,
            None,
            "the file is empty; expected a header row such as `date,AAPL,MSFT`",
            "{file}: the file is empty; expected a header row such as `date,AAPL,MSFT`",
        );
    }
}

#[test]
fn missing_file_is_an_io_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere.csv");
    let error = load_prices(&path).unwrap_err();
    let message = error.to_string();
    match error {
        DataError::Io { path: p, source } => {
            assert_eq!(p, path);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected DataError::Io, got {other:?}"),
    }
    assert!(message.starts_with(&format!("cannot read {}: ", path.display())), "{message}");
}

#[test]
fn header_with_an_empty_name_is_rejected() {
    expect_invalid(
        "date,A,,B\n2020-01-01,1,2,3\n",
        Some(1),
        Some((3, "")),
        "the header cell is empty: every column needs a name",
        "{file}, line 1, column 3: the header cell is empty: every column needs a name",
    );
    // A trailing comma makes an unnamed last column, which may not hold prices.
    expect_invalid(
        "A,B,\n1,2,3\n",
        Some(1),
        Some((3, "")),
        "the header cell is empty: every column needs a name (line 2 holds '3' in it)",
        "{file}, line 1, column 3: the header cell is empty: every column needs a name (line 2 holds '3' in it)",
    );
}

#[test]
fn duplicate_header_names_are_rejected() {
    expect_invalid(
        "date,A,B,A\n2020-01-01,1,2,3\n",
        Some(1),
        Some((4, "A")),
        "duplicate column name 'A' (also column 2)",
        "{file}, line 1, column 4 (A): duplicate column name 'A' (also column 2)",
    );
    expect_invalid(
        "X,Y,Z,Y\n1,2,3,4\n",
        Some(1),
        Some((4, "Y")),
        "duplicate column name 'Y' (also column 2)",
        "{file}, line 1, column 4 (Y): duplicate column name 'Y' (also column 2)",
    );
}

#[test]
fn olps_header_names_load_as_plain_names() {
    let (_dir, _path, panel) = load_text("Y,Z,[,\\,],^\n1,2,3,4,5,6\n1.5,2.5,3.5,4.5,5.5,6.5\n");
    assert_eq!(panel.assets, names(&["Y", "Z", "[", "\\", "]", "^"]));
    assert_eq!(panel.index, TimeIndex::Periods(2));
    assert_eq!(panel.prices, array![[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [1.5, 2.5, 3.5, 4.5, 5.5, 6.5]]);
}

#[test]
fn header_with_only_a_date_column_is_rejected() {
    expect_invalid(
        "date\n2020-01-01\n2020-01-02\n",
        Some(1),
        None,
        "the header names no asset columns",
        "{file}, line 1: the header names no asset columns",
    );
}

#[test]
fn header_without_rows_is_rejected() {
    expect_invalid(
        "date,A,B\n",
        Some(1),
        None,
        "the header is not followed by any price rows",
        "{file}, line 1: the header is not followed by any price rows",
    );
}

// ---------------------------------------------------------------------------------------------
// row problems

#[test]
fn row_with_too_few_fields_is_rejected() {
    expect_invalid(
        "date,A,B\n2020-01-01,1,2\n2020-01-02,1\n",
        Some(3),
        None,
        "the row has 2 fields but the header has 3",
        "{file}, line 3: the row has 2 fields but the header has 3",
    );
}

#[test]
fn row_with_too_many_fields_is_rejected() {
    expect_invalid(
        "A,B\n1,2\n1,2\n1,2,3\n",
        Some(4),
        None,
        "the row has 3 fields but the header has 2",
        "{file}, line 4: the row has 3 fields but the header has 2",
    );
}

#[test]
fn unparsable_date_is_rejected() {
    expect_invalid(
        "date,A\n2020-01-01,1\n2020-13-01,2\n",
        Some(3),
        Some((1, "date")),
        "'2020-13-01' is not a date (YYYY-MM-DD, or M/D/YYYY or D/M/YYYY)",
        "{file}, line 3, column 1 (date): '2020-13-01' is not a date (YYYY-MM-DD, or M/D/YYYY or D/M/YYYY)",
    );
    expect_invalid(
        "date,A\n01/02/2020,1\n",
        Some(2),
        Some((1, "date")),
        "'01/02/2020' is not a date (YYYY-MM-DD, or M/D/YYYY or D/M/YYYY); its dates with '/' are ambiguous (no day in the column is above 12, or both orders occur): write them as YYYY-MM-DD (pandas: df.to_csv(path, date_format='%Y-%m-%d'))",
        "{file}, line 2, column 1 (date): '01/02/2020' is not a date (YYYY-MM-DD, or M/D/YYYY or D/M/YYYY); its dates with '/' are ambiguous (no day in the column is above 12, or both orders occur): write them as YYYY-MM-DD (pandas: df.to_csv(path, date_format='%Y-%m-%d'))",
    );
}

/// Spreadsheets save dates as `1/2/2020`, month first in the US and day first elsewhere; the
/// column as a whole tells which, as a number above 12 can only be a day.
#[test]
fn dates_with_slashes_are_read_in_the_order_their_column_shows() {
    let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let expected = TimeIndex::Dates(vec![day(2020, 1, 12), day(2020, 1, 13), day(2020, 2, 1)]);
    for text in [
        "date,A\n1/12/2020,1\n1/13/2020,2\n2/1/2020,3\n",
        "date,A\n12/1/2020,1\n13/1/2020,2\n1/2/2020,3\n",
        "date,A\n01/12/2020 0:00,1\n01/13/2020 0:00,2\n02/01/2020 0:00,3\n",
    ] {
        let (_dir, _path, panel) = load_text(text);
        assert_eq!(panel.index, expected, "{text}");
    }
    // Both orders in one column, and a column that never shows one, are refused.
    for (text, cell) in [
        ("date,A\n1/13/2020,1\n13/2/2020,2\n", "1/13/2020"),
        ("date,A\n1/2/2020,1\n2/2/2020,2\n", "1/2/2020"),
    ] {
        expect_bad_date_on_line_2(
            text,
            cell,
            "its dates with '/' are ambiguous (no day in the column is above 12, or both orders \
             occur): write them as YYYY-MM-DD (pandas: df.to_csv(path, date_format='%Y-%m-%d'))",
        );
    }
}

/// `text` refused at line 2 for its date `cell`, with `hint` after the forms a date may take.
fn expect_bad_date_on_line_2(text: &str, cell: &str, hint: &str) {
    let message = format!("'{cell}' is not a date (YYYY-MM-DD, or M/D/YYYY or D/M/YYYY); {hint}");
    expect_invalid(
        text,
        Some(2),
        Some((1, "date")),
        &message,
        &format!("{{file}}, line 2, column 1 (date): {message}"),
    );
}

/// A two-digit year could be any century: it is refused, whatever the separator, and never read
/// as the year 14.
#[test]
fn dates_with_two_digit_years_are_refused_not_read_as_the_first_century() {
    for (text, cell) in [
        ("date,A\n14-01-02,1\n14-01-03,2\n", "14-01-02"),
        ("date,A\n14/01/02,1\n14/01/03,2\n", "14/01/02"),
        ("date,A\n1/2/14,1\n1/13/14,2\n", "1/2/14"),
        ("date,A\n02/01/14 00:00,1\n03/01/14 00:00,2\n", "02/01/14 00:00"),
    ] {
        expect_bad_date_on_line_2(
            text,
            cell,
            "its year has two digits, and folio does not guess the century: write years in full \
             (2014-01-02, or 1/2/2014)",
        );
    }
    let (_dir, _path, panel) = load_text("date,A\n2014-1-2,1\n2014/01/03,2\n");
    assert_eq!(panel.index, dates(&["2014-01-02", "2014-01-03"]));
}

/// A space after the comma keeps a quoted name's or price's quotes as part of the cell; the
/// value is the one inside them.
#[test]
fn quoted_names_and_prices_after_a_space_lose_their_quotes() {
    let (_dir, _path, panel) =
        load_text("date, \"SPY\", \"A \"\"B\"\"\"\n2020-01-02,1,2\n2020-01-03,1.5,2.5\n");
    assert_eq!(panel.assets, names(&["SPY", "A \"B\""]));
    // So do its prices.
    let (_dir, _path, panel) = load_text("\"date\", \"SPY\", \"QQQ\"\n\"2020-01-02\", \"1.5\", \"2\"\n");
    assert_eq!(panel.prices, array![[1.5, 2.0]]);
    // A quoted price with thousands separators is one cell, not split at its commas; a quote
    // inside a quoted name stays; an unquoted cell keeps its inner spaces.
    let (_dir, _path, panel) = load_text(
        "date,  \"S&P, \"\"500\"\"\",\tB C\n2020-01-02, \"5,270.40\",\t 2\n2020-01-03 ,\t\"5,271\" , 3\n",
    );
    assert_eq!(panel.assets, names(&["S&P, \"500\"", "B C"]));
    assert_eq!(panel.prices, array![[5270.4, 2.0], [5271.0, 3.0]]);
    // In a tab-separated file a tab is a separator, never a space to drop: the blank cell stays.
    let (_dir, _path, panel) =
        load_text("date\tA\tB\n2020-01-02\t\t\"5,270.40\"\n2020-01-03\t1\t \"5,271\"\n");
    assert_eq!(panel.asset_prices(1).to_vec(), [5270.4, 5271.0]);
    assert!(panel.asset_prices(0)[0].is_nan() && panel.asset_prices(0)[1] == 1.0);
    // A byte-order mark before the first quote is the reader's to drop, not part of a cell.
    let (_dir, _path, panel) = load_text("\u{feff}\"date\", \"A\"\r\n\"2020-01-02\", \"1,234.5\"\r\n");
    assert_eq!((panel.assets, panel.prices), (names(&["A"]), array![[1234.5]]));
    assert_eq!(panel.index, dates(&["2020-01-02"]));
    let (_dir, _path, panel) = load_text("\u{feff}\"A, \"\" B\", \"C\"\n1, 2\n");
    assert_eq!(panel.assets, names(&["A, \" B", "C"]), "the first cell's quotes are seen");
}

#[test]
fn prices_with_thousands_separators_are_read_and_decimal_commas_are_not() {
    let (_dir, _path, panel) = load_text("date,A,B\n2020-01-02,\"1,234.50\",\"12,345,678\"\n");
    assert_eq!(panel.asset_prices(0)[0], 1234.5);
    assert_eq!(panel.asset_prices(1)[0], 12_345_678.0);
    for cell in ["1,5", "1,23", "12,3456.7", ",123", "1,234.5.6"] {
        expect_invalid(
            &format!("date,A\n2020-01-02,\"{cell}\"\n"),
            Some(2),
            Some((2, "A")),
            &format!("'{cell}' is not a number"),
            &format!("{{file}}, line 2, column 2 (A): '{cell}' is not a number"),
        );
    }
}

#[test]
fn unparsable_number_is_rejected() {
    expect_invalid(
        "date,A,B\n2020-01-01,1,2\n2020-01-02,1.1,abc\n",
        Some(3),
        Some((3, "B")),
        "'abc' is not a number",
        "{file}, line 3, column 3 (B): 'abc' is not a number",
    );
    // Undated: column numbers count from the first asset.
    expect_invalid(
        "A,B\n1,2\n1,2\n3x,4\n",
        Some(4),
        Some((1, "A")),
        "'3x' is not a number",
        "{file}, line 4, column 1 (A): '3x' is not a number",
    );
}

#[test]
fn line_numbers_count_blank_lines() {
    // Blank and whitespace-only lines are skipped but still counted, as an editor counts them.
    expect_invalid(
        "date,A\n\n2020-01-01,1\n\n\n2020-01-02,x\n",
        Some(6),
        Some((2, "A")),
        "'x' is not a number",
        "{file}, line 6, column 2 (A): 'x' is not a number",
    );
    expect_invalid(
        "\n\ndate,A,,B\n2020-01-01,1,2,3\n",
        Some(3),
        Some((3, "")),
        "the header cell is empty: every column needs a name",
        "{file}, line 3, column 3: the header cell is empty: every column needs a name",
    );
    expect_invalid(
        "A,B\n1,2\n   \n1,2,3\n",
        Some(4),
        None,
        "the row has 3 fields but the header has 2",
        "{file}, line 4: the row has 3 fields but the header has 2",
    );
    expect_invalid(
        "A,B\r\n1,2\r\n\r\n1,\r\n1,3\r\n",
        Some(4),
        Some((2, "B")),
        "the price is missing although 'B' has prices before (line 2) and after (line 5); \
         only leading or trailing cells may be blank, unless the config's [data] says \
         missing = \"carry_forward\" to carry the last price forward",
        "{file}, line 4, column 2 (B): the price is missing although 'B' has prices before \
         (line 2) and after (line 5); only leading or trailing cells may be blank, unless the config's [data] says \
         missing = \"carry_forward\" to carry the last price forward",
    );
}

#[test]
fn duplicate_date_is_rejected() {
    expect_invalid(
        "date,A\n2020-01-01,1\n2020-01-02,2\n2020-01-02,3\n",
        Some(4),
        Some((1, "date")),
        "date 2020-01-02 repeats the previous row (line 3); dates must be unique",
        "{file}, line 4, column 1 (date): date 2020-01-02 repeats the previous row (line 3); \
         dates must be unique",
    );
}

#[test]
fn decreasing_date_is_rejected() {
    expect_invalid(
        "date,A\n2020-01-01,1\n2020-01-03,2\n2020-01-02,3\n",
        Some(4),
        Some((1, "date")),
        "date 2020-01-02 comes before 2020-01-03 (line 3); dates must be strictly increasing",
        "{file}, line 4, column 1 (date): date 2020-01-02 comes before 2020-01-03 (line 3); \
         dates must be strictly increasing",
    );
}

#[test]
fn zero_negative_and_infinite_prices_are_rejected() {
    for cell in ["0", "0.0", "-0", "-1.5", "inf", "-inf", "infinity"] {
        let text = format!("date,A,B\n2020-01-01,1,2\n2020-01-02,3,{cell}\n");
        let reason = format!("price {cell} is not allowed: prices must be finite and greater than zero");
        expect_invalid(
            &text,
            Some(3),
            Some((3, "B")),
            &reason,
            &format!("{{file}}, line 3, column 3 (B): {reason}"),
        );
    }
    expect_invalid(
        "A,B\n1,2\n0,2\n",
        Some(3),
        Some((1, "A")),
        "price 0 is not allowed: prices must be finite and greater than zero",
        "{file}, line 3, column 1 (A): price 0 is not allowed: prices must be finite and greater \
         than zero",
    );
    // Two normal prices whose ratio overflows.
    let reason = "price 10000000000 after 1e-300 (line 2) is a return too large to compute with: is a cell in the \
                  wrong units?";
    expect_invalid(
        "date,A,B\n2020-01-01,1e-300,2\n2020-01-02,1e10,2\n",
        Some(3),
        Some((2, "A")),
        reason,
        &format!("{{file}}, line 3, column 2 (A): {reason}"),
    );
    // Subnormal: positive, but the next price's return over it is infinite.
    let reason = "price 1e-320 is too close to zero to compute with: the smallest is 2.2250738585072014e-308";
    expect_invalid(
        "date,A,B\n2020-01-01,1,2\n2020-01-02,1e-320,2\n2020-01-03,3,2\n",
        Some(3),
        Some((2, "A")),
        reason,
        &format!("{{file}}, line 3, column 2 (A): {reason}"),
    );
}

// ---------------------------------------------------------------------------------------------
// blank cells

#[test]
fn leading_blank_cells_load_as_nan() {
    let (_dir, _path, panel) =
        load_text("date,A,B\n2020-01-01,1,\n2020-01-02,1.5,\n2020-01-03,2,5\n2020-01-06,2.5,6\n");
    assert_eq!(panel.assets, names(&["A", "B"]));
    assert_eq!(panel.index, dates(&["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-06"]));
    let b = panel.asset_prices(1);
    assert!(b[0].is_nan() && b[1].is_nan());
    assert_eq!((b[2], b[3]), (5.0, 6.0));
    assert_eq!(panel.asset_prices(0).to_vec(), vec![1.0, 1.5, 2.0, 2.5]);
    assert_eq!(panel.listing(0), Some(Listing { first: 0, last: 3 }));
    assert_eq!(panel.listing(1), Some(Listing { first: 2, last: 3 }));
}

#[test]
fn trailing_blank_cells_are_allowed() {
    let (_dir, _path, panel) = load_text("A,B\n1,2\n1.5,3\n,4\n,5\n");
    assert_eq!(panel.index, TimeIndex::Periods(4));
    let a = panel.asset_prices(0);
    assert_eq!((a[0], a[1]), (1.0, 1.5));
    assert!(a[2].is_nan() && a[3].is_nan());
    assert_eq!(panel.listing(0), Some(Listing { first: 0, last: 1 }));
    assert_eq!(panel.listing(1), Some(Listing { first: 0, last: 3 }));
}

#[test]
fn interior_blank_cell_is_rejected_naming_line_and_asset() {
    expect_invalid(
        "date,A,B\n2020-01-01,1,2\n2020-01-02,1,\n2020-01-03,1,3\n",
        Some(3),
        Some((3, "B")),
        "the price is missing although 'B' has prices before (line 2) and after (line 4); \
         only leading or trailing cells may be blank, unless the config's [data] says \
         missing = \"carry_forward\" to carry the last price forward",
        "{file}, line 3, column 3 (B): the price is missing although 'B' has prices before \
         (line 2) and after (line 4); only leading or trailing cells may be blank, unless the config's [data] says \
         missing = \"carry_forward\" to carry the last price forward",
    );
    // With leading blanks before the gap, the message names the asset's real first line.
    expect_invalid(
        "A,B\n1,\n1,7\n1,8\n1,\n1,\n1,9\n",
        Some(5),
        Some((2, "B")),
        "the price is missing although 'B' has prices before (line 3) and after (line 7); \
         only leading or trailing cells may be blank, unless the config's [data] says \
         missing = \"carry_forward\" to carry the last price forward",
        "{file}, line 5, column 2 (B): the price is missing although 'B' has prices before \
         (line 3) and after (line 7); only leading or trailing cells may be blank, unless the config's [data] says \
         missing = \"carry_forward\" to carry the last price forward",
    );
}

#[test]
fn interior_blank_cells_carry_the_last_price_forward_when_asked() {
    let text = "date,A,B\n2020-01-01,1,\n2020-01-02,2,7\n2020-01-03,3,\n2020-01-06,4,NaN\n\
                2020-01-07,5,9\n2020-01-08,6,#N/A\n2020-01-09,7,10\n2020-01-10,8,\n";
    let (_dir, path) = temp_csv(text);
    let strict = load_prices(&path).unwrap_err().to_string();
    assert!(strict.contains("line 4, column 3 (B)"), "{strict}");
    let loaded = read_prices(&path, MissingPrices::CarryForward).unwrap();
    let b = loaded.panel.asset_prices(1).to_vec();
    // Each filled cell is the last price shown before it; the leading and trailing blanks stay
    // blank (B had not started, then had stopped), and A is untouched.
    assert!(b[0].is_nan() && b[7].is_nan());
    assert_eq!(b[1..7], [7.0, 7.0, 7.0, 9.0, 9.0, 10.0]);
    assert_eq!(loaded.panel.asset_prices(0).to_vec(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    assert_eq!(loaded.panel.listing(1), Some(Listing { first: 1, last: 6 }));
    assert_eq!(
        loaded.carried_forward,
        vec![CarriedForward { asset: "B".into(), cells: 3, first_line: 4, longest_run: 2 }]
    );
    assert_eq!(loaded.carried_forward[0].to_string(), "B: 3 missing prices from line 4, at most 2 in a row");
    let clean =
        read_prices(&manifest("envs/data/us_factor_etfs_daily.csv"), MissingPrices::CarryForward).unwrap();
    assert!(clean.carried_forward.is_empty());
}

#[test]
fn a_config_carries_missing_prices_forward_only_when_it_says_so() {
    use folio::env::{Market, config::EnvConfig};
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("date,A,B\n");
    let mut day = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
    for t in 0..80 {
        let b = if t == 40 { String::new() } else { format!("{}", 50.0 + (t % 7) as f64) };
        text.push_str(&format!("{day},{},{b}\n", 100.0 + t as f64));
        day = day.succ_opt().unwrap();
    }
    std::fs::write(dir.path().join("gappy.csv"), text).unwrap();
    let config = |name: &str, missing: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("[data]\nfile = \"gappy.csv\"\n{missing}[features]\nwindow = 5\n"))
            .unwrap();
        EnvConfig::load(&path)
    };
    let strict = config("strict.toml", "").unwrap();
    assert_eq!(strict.data.missing, MissingPrices::Error);
    let Err(error) = Market::from_config(&strict) else { panic!("a gap is refused by default") };
    let message = error.to_string();
    assert!(
        message.contains("gappy.csv, line 42, column 3 (B)") && message.contains("carry_forward"),
        "{message}"
    );
    let filling = config("filling.toml", "missing = \"carry_forward\"\n").unwrap();
    let (market, _) = Market::from_config(&filling).unwrap();
    let b = market.panel.asset_prices(1);
    assert_eq!(b[40], b[39]);
    // The default is left out of what the registry hashes, so older configs keep their hash.
    let json = serde_json::to_value(&strict.data).unwrap();
    assert!(json.get("missing").is_none(), "{json}");
    assert_eq!(serde_json::to_value(&filling.data).unwrap()["missing"], "carry_forward");
    let message = config("typo.toml", "missing = \"fill\"\n").unwrap_err().to_string();
    assert!(message.contains("typo.toml") && message.contains("carry_forward"), "{message}");
}

#[test]
fn missing_value_marks_read_as_blank_cells() {
    for mark in
        ["NaN", "nan", "-nan", "NA", "N/A", "#N/A", "#N/A N/A", "#NA", "<NA>", "null", "None", ".", "-"]
    {
        let (_dir, _path, panel) = load_text(&format!("date,A,B\n2020-01-01,1,{mark}\n2020-01-02,2,5\n"));
        let b = panel.asset_prices(1);
        assert!(b[0].is_nan() && b[1] == 5.0, "{mark} should read as a blank cell");
    }
}

#[test]
fn timestamps_of_a_day_read_as_that_day() {
    let expected = dates(&["2020-01-02", "2020-01-03"]);
    for (first, second) in [
        ("2020-01-02 00:00:00", "2020-01-03 00:00:00"),
        ("2020-01-02 00:00:00-05:00", "2020-01-03 00:00:00-05:00"),
        ("2020-01-02T16:00:00Z", "2020-01-03T16:00:00.000+0100"),
        ("2020-01-02 09:30", "2020-01-03 09:30"),
        ("2020/01/02", "2020/01/03"),
    ] {
        let (_dir, _path, panel) = load_text(&format!("Date,A\n{first},1\n{second},2\n"));
        assert_eq!(panel.index, expected, "{first}, {second}");
    }
    for header in ["Datetime,A", "timestamp,A", ",A", "Dates,A", "Trade Date,A", "trade_date,A", "time,A"] {
        let (_dir, _path, panel) = load_text(&format!("{header}\n2020-01-02,1\n2020-01-03,2\n"));
        assert_eq!(panel.index, expected, "{header}");
    }
    // A name that holds "date" inside a word names an asset.
    let (_dir, _path, panel) = load_text("Mandate,B\n1,2\n3,4\n");
    assert_eq!(
        (panel.assets.clone(), panel.index.clone()),
        (names(&["Mandate", "B"]), TimeIndex::Periods(2))
    );
    // An unnamed first column of row numbers is still an index, not dates.
    let (_dir, _path, panel) = load_text(",A\n0,1\n1,2\n");
    assert_eq!(panel.index, TimeIndex::Periods(2));
    for text in ["2020-01-02 25:00:00", "2020-01-02 00:00:00+5", "2020-01-02x", "2020-01-02 noon"] {
        expect_invalid(
            &format!("date,A\n{text},1\n"),
            Some(2),
            Some((1, "date")),
            &format!("'{text}' is not a date (YYYY-MM-DD, or M/D/YYYY or D/M/YYYY)"),
            &format!(
                "{{file}}, line 2, column 1 (date): '{text}' is not a date (YYYY-MM-DD, or M/D/YYYY or D/M/YYYY)"
            ),
        );
    }
}

#[test]
fn intraday_and_newest_first_files_are_rejected_saying_how_to_fix_them() {
    expect_invalid(
        "date,A\n2020-01-02 10:00:00,1\n2020-01-02 11:00:00,2\n",
        Some(3),
        Some((1, "date")),
        "date 2020-01-02 repeats the previous row (line 2); dates must be unique; a dated file holds \
         one row per day: for intraday bars, drop the date column and number the rows instead (an \
         undated file)",
        "{file}, line 3, column 1 (date): date 2020-01-02 repeats the previous row (line 2); dates must \
         be unique; a dated file holds one row per day: for intraday bars, drop the date column and \
         number the rows instead (an undated file)",
    );
    expect_invalid(
        "date,A\n2020-01-03,1\n2020-01-02,2\n2020-01-01,3\n",
        Some(3),
        Some((1, "date")),
        "date 2020-01-02 comes before 2020-01-03 (line 2); dates must be strictly increasing; if \
         the file runs newest first, sort it oldest first (pandas: df.sort_index().to_csv(path))",
        "{file}, line 3, column 1 (date): date 2020-01-02 comes before 2020-01-03 (line 2); dates must \
         be strictly increasing; if the file runs newest first, sort it oldest first (pandas: \
         df.sort_index().to_csv(path))",
    );
}

#[test]
fn column_without_any_price_is_rejected() {
    expect_invalid(
        "date,A,B\n2020-01-01,1,\n2020-01-02,2,\n",
        None,
        Some((3, "B")),
        "the column has no prices at all",
        "{file}, column 3 (B): the column has no prices at all",
    );
}

// ---------------------------------------------------------------------------------------------
// layouts and the bundled data

#[test]
fn dated_file_loads_exactly() {
    let (_dir, path, panel) = load_text("date,A,B\n2020-01-01,1.25,10\n2020-01-02,1.5,9.75\n");
    assert_eq!(panel.source, path);
    assert_eq!(panel.assets, names(&["A", "B"]));
    assert_eq!(panel.index, dates(&["2020-01-01", "2020-01-02"]));
    assert_eq!(panel.prices, array![[1.25, 10.0], [1.5, 9.75]]);
}

#[test]
fn undated_file_loads_as_periods() {
    let (_dir, _path, panel) = load_text("A,B,C\n1,2,3\n1.5,2.5,3.5\n2,3,4\n");
    assert_eq!(panel.assets, names(&["A", "B", "C"]));
    assert_eq!(panel.index, TimeIndex::Periods(3));
    assert!(!panel.index.is_dated());
    assert_eq!(panel.index.label(2), "2");
    assert_eq!(panel.prices, array![[1.0, 2.0, 3.0], [1.5, 2.5, 3.5], [2.0, 3.0, 4.0]]);
}

#[test]
fn bundled_djia_loads_with_30_assets_and_507_periods() {
    let panel = load_prices(&manifest("envs/data/olps/djia.csv")).unwrap();
    assert_eq!(panel.n_assets(), 30);
    assert_eq!(panel.n_periods(), 507);
    assert_eq!(panel.index, TimeIndex::Periods(507));
    let mut expected: Vec<String> = ('A'..='Z').map(String::from).collect();
    expected.extend(names(&["[", "\\", "]", "^"]));
    assert_eq!(panel.assets, expected);
    assert_eq!(panel.prices[[0, 0]], 1.032425818293056);
    assert!(panel.prices.iter().all(|p| p.is_finite() && *p > 0.0));
}

#[test]
fn bundled_us_stocks_load_with_20_assets_and_8313_rows() {
    let panel = load_prices(&manifest("envs/data/us_stocks_20_daily.csv")).unwrap();
    assert_eq!(panel.n_assets(), 20);
    assert_eq!(panel.n_periods(), 8313);
    assert_eq!(panel.assets[0], "AAPL");
    assert_eq!(panel.assets[19], "XOM");
    let TimeIndex::Dates(ds) = &panel.index else {
        panic!("expected a dated index, got {:?}", panel.index);
    };
    assert_eq!(ds.first(), Some(&date("1990-01-02")));
    assert_eq!(ds.last(), Some(&date("2022-12-28")));
    assert!(ds.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(panel.prices[[0, 0]], 0.264);
    assert_eq!(panel.prices[[8312, 0]], 125.674);
}

// ---------------------------------------------------------------------------------------------
// selection

/// A: 5 rows; B: starts at row 2 (2020-01-03); C: stops after row 3 (2020-01-06).
const STAGGERED: &str = "date,A,B,C\n\
    2020-01-01,1,,10\n\
    2020-01-02,2,,11\n\
    2020-01-03,3,30,12\n\
    2020-01-06,4,40,13\n\
    2020-01-07,5,50,\n";

#[test]
fn select_by_names_keeps_the_given_order() {
    let (_dir, path, panel) = load_text("date,A,B,C\n2020-01-01,1,2,3\n2020-01-02,4,5,6\n");
    let selection = panel.select(&names(&["C", "A"]), None, None).unwrap();
    assert_eq!(selection.panel.assets, names(&["C", "A"]));
    assert_eq!(selection.panel.prices, array![[3.0, 1.0], [6.0, 4.0]]);
    assert_eq!(selection.panel.index, dates(&["2020-01-01", "2020-01-02"]));
    assert_eq!(selection.panel.source, path);
    assert_eq!(selection.started_by, None);

    let all = panel.select(&[], None, None).unwrap();
    assert_eq!(all.panel.assets, names(&["A", "B", "C"]));
    assert_eq!(all.panel.prices, panel.prices);
}

#[test]
fn select_unknown_name_is_an_error() {
    let (_dir, path, panel) = load_text("date,A,B,C\n2020-01-01,1,2,3\n2020-01-02,4,5,6\n");
    let message = selection_error(panel.select(&names(&["A", "Z"]), None, None));
    assert_eq!(message, format!("asset 'Z' is not in {} (it has: A, B, C)", path.display()));
}

#[test]
fn select_asset_twice_is_an_error() {
    let (_dir, _path, panel) = load_text("date,A,B,C\n2020-01-01,1,2,3\n2020-01-02,4,5,6\n");
    let message = selection_error(panel.select(&names(&["B", "A", "B"]), None, None));
    assert_eq!(message, "asset 'B' is selected twice");
}

#[test]
fn late_starting_asset_sets_the_start_when_no_from_is_given() {
    let (_dir, _path, panel) = load_text(STAGGERED);
    let selection = panel.select(&names(&["A", "B"]), None, None).unwrap();
    assert_eq!(
        selection.started_by.unwrap().to_string(),
        "asset 'B' has no prices before 2020-01-03, so the market starts there although the file \
         starts at 2020-01-01; leave it out (data.assets) to start at 2020-01-01"
    );
    assert_eq!(selection.panel.index, dates(&["2020-01-03", "2020-01-06", "2020-01-07"]));
    assert_eq!(selection.panel.prices, array![[3.0, 30.0], [4.0, 40.0], [5.0, 50.0]]);

    // Without the latest asset, the market starts at the next latest's first price; assets that
    // start on the same row are named together.
    let (_dir, _path, later) = load_text(
        "date,A,B,C,D\n2020-01-01,1,,,\n2020-01-02,2,20,,\n2020-01-03,3,30,300,3000\n2020-01-06,4,40,400,4000\n",
    );
    let late = later.select(&[], None, None).unwrap().started_by.unwrap();
    assert_eq!((late.assets, late.without), (names(&["C", "D"]), "2020-01-02".to_string()));
    let late = later.select(&names(&["A", "C"]), None, None).unwrap().started_by.unwrap();
    assert_eq!((&late.assets, late.without.as_str()), (&names(&["C"]), "2020-01-01"));
    assert!(late.to_string().contains("leave it out"));
    let late = later.select(&names(&["C", "D", "A"]), None, None).unwrap().started_by.unwrap();
    assert!(late.to_string().starts_with("assets 'C', 'D' have no prices before 2020-01-03"), "{late}");
    assert!(late.to_string().ends_with("leave them out (data.assets) to start at 2020-01-01"), "{late}");

    // Without the late asset nothing limits the start.
    let selection = panel.select(&names(&["A"]), None, None).unwrap();
    assert_eq!(selection.started_by, None);
    assert_eq!(selection.panel.n_periods(), 5);
}

/// Assets whose listings do not overlap make no market: the error names the one that starts
/// last and the one that ends first, with their dates, where it had printed a range backwards.
#[test]
fn assets_that_never_trade_together_are_named() {
    let (_dir, path, panel) =
        load_text("date,A,B,C\n2020-01-01,1,10,\n2020-01-02,2,11,\n2020-01-03,3,,100\n2020-01-06,4,,101\n");
    let message = selection_error(panel.select(&[], None, None));
    assert_eq!(
        message,
        format!(
            "the assets of {} share no two periods with prices: C starts on 2020-01-03, after B's last \
             price on 2020-01-02; leave one of them out (data.assets)",
            path.display()
        )
    );
    assert_eq!(panel.select(&names(&["A", "C"]), None, None).unwrap().panel.n_periods(), 2);
    // Listings that meet on one day share that row alone.
    let (_dir, _path, meeting) = load_text("date,A,B\n2020-01-01,1,\n2020-01-02,2,20\n2020-01-03,,21\n");
    let message = selection_error(meeting.select(&[], None, None));
    assert!(
        message.contains("B starts on 2020-01-02, on the day of A's last price on 2020-01-02"),
        "{message}"
    );
}

/// Blank rows at either end of a file hold no asset back: no note names one to leave out.
#[test]
fn blank_rows_at_the_ends_name_no_asset_to_leave_out() {
    let (_dir, _path, panel) =
        load_text("date,A,B\n2020-01-01,,\n2020-01-02,1,2\n2020-01-03,2,3\n2020-01-06,3,4\n2020-01-07,,\n");
    let selection = panel.select(&[], None, None).unwrap();
    assert_eq!((selection.started_by, selection.ended_by), (None, None));
    assert_eq!(selection.panel.index, dates(&["2020-01-02", "2020-01-03", "2020-01-06"]));
}

#[test]
fn explicit_from_before_an_assets_start_is_an_error() {
    let (_dir, _path, panel) = load_text(STAGGERED);
    let from = Some(Stamp::Date(date("2020-01-02")));
    let message = selection_error(panel.select(&names(&["A", "B"]), from, None));
    assert_eq!(
        message,
        "asset 'B' has prices only from 2020-01-03; the range starts at 2020-01-02: \
         start at 2020-01-03 or leave 'B' out"
    );

    // Starting exactly at the asset's first date works, and nothing is reported as limiting.
    let from = Some(Stamp::Date(date("2020-01-03")));
    let selection = panel.select(&names(&["A", "B"]), from, None).unwrap();
    assert_eq!(selection.started_by, None);
    assert_eq!(selection.panel.index, dates(&["2020-01-03", "2020-01-06", "2020-01-07"]));
}

#[test]
fn to_after_an_assets_last_price_is_an_error() {
    let (_dir, _path, panel) = load_text(STAGGERED);
    let to = Some(Stamp::Date(date("2020-01-07")));
    let message = selection_error(panel.select(&names(&["A", "C"]), None, to));
    assert_eq!(message, "asset 'C' has prices only up to 2020-01-06; the range ends at 2020-01-07");

    // Without `to`, the range ends at C's last price.
    let selection = panel.select(&names(&["A", "C"]), None, None).unwrap();
    assert_eq!(selection.panel.index.label(selection.panel.n_periods() - 1), "2020-01-06");
    assert_eq!(selection.panel.n_periods(), 4);
}

#[test]
fn range_with_fewer_than_two_rows_is_an_error() {
    let (_dir, path, panel) = load_text(STAGGERED);
    let day = Some(Stamp::Date(date("2020-01-02")));
    let message = selection_error(panel.select(&names(&["A"]), day, day));
    assert_eq!(
        message,
        format!(
            "the selected range 2020-01-02 .. 2020-01-02 of {} holds fewer than two periods",
            path.display()
        )
    );

    // `to` before `from`.
    let from = Some(Stamp::Date(date("2020-01-06")));
    let to = Some(Stamp::Date(date("2020-01-03")));
    let message = selection_error(panel.select(&names(&["A"]), from, to));
    assert_eq!(
        message,
        format!(
            "the selected range 2020-01-06 .. 2020-01-03 of {} holds fewer than two periods",
            path.display()
        )
    );
}

#[test]
fn undated_selection_uses_period_numbers() {
    let (_dir, path, panel) = load_text("A,B\n1,10\n2,20\n3,30\n4,40\n5,50\n");
    let selection = panel.select(&names(&["B"]), Some(Stamp::Period(1)), Some(Stamp::Period(3))).unwrap();
    assert_eq!(selection.panel.index, TimeIndex::Periods(3));
    assert_eq!(selection.panel.prices, array![[20.0], [30.0], [40.0]]);
    assert_eq!(selection.started_by, None);

    // A `to` past the end is the last row.
    let selection = panel.select(&[], Some(Stamp::Period(3)), Some(Stamp::Period(99))).unwrap();
    assert_eq!(selection.panel.index, TimeIndex::Periods(2));
    assert_eq!(selection.panel.prices, array![[4.0, 40.0], [5.0, 50.0]]);

    let message = selection_error(panel.select(&[], Some(Stamp::Period(5)), None));
    assert_eq!(message, format!("--from period 5 is after the last row of {} (4)", path.display()));

    let message = selection_error(panel.select(&[], Some(Stamp::Period(4)), Some(Stamp::Period(4))));
    assert_eq!(
        message,
        format!("the selected range 4 .. 4 of {} holds fewer than two periods", path.display())
    );

    // A late start in undated data is reported with period numbers.
    let (_dir, _path, late) = load_text("A,B\n1,\n2,\n3,30\n4,40\n");
    let selection = late.select(&[], None, None).unwrap();
    assert!(
        selection
            .started_by
            .unwrap()
            .to_string()
            .contains("no prices before 2, so the market starts there although the file starts at 0")
    );
    assert_eq!(selection.panel.prices, array![[3.0, 30.0], [4.0, 40.0]]);
    let message = selection_error(late.select(&[], Some(Stamp::Period(1)), None));
    assert_eq!(
        message,
        "asset 'B' has prices only from 2; the range starts at 1: start at 2 or leave 'B' out"
    );
}

// ---------------------------------------------------------------------------------------------
// relatives and fingerprint

#[test]
fn relatives_are_price_ratios() {
    let panel = PricePanel::new(
        "hand",
        names(&["A", "B"]),
        TimeIndex::Periods(3),
        array![[2.0, 4.0], [3.0, 2.0], [7.5, 1.0]],
    );
    let x = panel.relatives();
    // 3/2, 2/4 for period 1; 7.5/3, 1/2 for period 2.
    assert_eq!(x, array![[1.5, 0.5], [2.5, 0.5]]);

    // Non-exact ratios equal the plain division, bit for bit.
    let p = array![[1.1, 3.3], [1.7, 2.9], [0.3, 10.1]];
    let panel = PricePanel::new("hand", names(&["A", "B"]), TimeIndex::Periods(3), p.clone());
    let x = panel.relatives();
    assert_eq!(x.dim(), (2, 2));
    for t in 1..3 {
        for i in 0..2 {
            assert_eq!(x[[t - 1, i]].to_bits(), (p[[t, i]] / p[[t - 1, i]]).to_bits());
        }
    }
}

fn fingerprint_panel() -> PricePanel {
    PricePanel::new(
        "a.csv",
        names(&["A", "B"]),
        dates(&["2020-01-01", "2020-01-02", "2020-01-03"]),
        array![[1.0, 2.0], [1.5, 2.5], [1.25, 3.0]],
    )
}

#[test]
fn fingerprint_is_stable_and_sensitive() {
    let base = fingerprint_panel();
    let fp = base.fingerprint();
    assert_eq!(fp.len(), 32);
    assert!(fp.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(fp, fingerprint_panel().fingerprint());
    // The source path is not part of the content.
    let mut moved = fingerprint_panel();
    moved.source = PathBuf::from("elsewhere/b.csv");
    assert_eq!(moved.fingerprint(), fp);

    let mut ulp = fingerprint_panel();
    ulp.prices[[2, 1]] = f64::from_bits(ulp.prices[[2, 1]].to_bits() + 1);
    assert_ne!(ulp.prices[[2, 1]], base.prices[[2, 1]]);
    assert_ne!(ulp.fingerprint(), fp, "a one-ulp price change must change the fingerprint");

    let mut renamed = fingerprint_panel();
    renamed.assets[1] = "C".into();
    assert_ne!(renamed.fingerprint(), fp, "an asset rename must change the fingerprint");

    let mut redated = fingerprint_panel();
    redated.index = dates(&["2020-01-01", "2020-01-02", "2020-01-04"]);
    assert_ne!(redated.fingerprint(), fp, "a date change must change the fingerprint");
}

#[test]
fn fingerprint_of_a_loaded_file_matches_the_same_data_built_by_hand() {
    let (_dir, _path, panel) = load_text("date,A,B\n2020-01-01,1,2\n2020-01-02,1.5,2.5\n2020-01-03,1.25,3\n");
    assert_eq!(panel.fingerprint(), fingerprint_panel().fingerprint());
}

/// A shorter cut of a dated history is found again in the longer one by its span: the rows over
/// it hash to the cut's own fingerprint. Another universe, a date the longer panel lacks, a
/// changed price or undated rows find nothing.
#[test]
fn a_shorter_cut_is_found_again_in_the_longer_history_by_its_span() {
    let longer = fingerprint_panel();
    let shorter = longer.select(&[], None, Some(Stamp::Date(date("2020-01-02")))).unwrap().panel;
    let span = shorter.span().unwrap();
    assert_eq!((span.first, span.last), (date("2020-01-01"), date("2020-01-02")));
    assert_eq!(longer.fingerprint_over(&span), Some(shorter.fingerprint()));
    let later = longer.select(&[], Some(Stamp::Date(date("2020-01-02"))), None).unwrap().panel;
    assert_eq!(longer.fingerprint_over(&later.span().unwrap()), Some(later.fingerprint()));
    assert_eq!(longer.fingerprint_over(&longer.span().unwrap()), Some(longer.fingerprint()));

    let one_asset = longer.select(&names(&["B"]), None, None).unwrap().panel;
    assert_eq!(longer.fingerprint_over(&one_asset.span().unwrap()), None, "another universe");
    let reordered = longer.select(&names(&["B", "A"]), None, None).unwrap().panel;
    assert_eq!(longer.fingerprint_over(&reordered.span().unwrap()), None, "the same assets in another order");
    let missing_date = DataSpan { last: date("2020-01-05"), ..span.clone() };
    assert_eq!(longer.fingerprint_over(&missing_date), None);

    let mut edited = fingerprint_panel();
    edited.prices[[0, 0]] = 1.01;
    assert_ne!(edited.fingerprint_over(&span), Some(shorter.fingerprint()), "other prices, other history");

    let undated = PricePanel::new("u.csv", names(&["A", "B"]), TimeIndex::Periods(3), longer.prices.clone());
    assert_eq!(undated.span(), None);
    assert_eq!(undated.fingerprint_over(&span), None);
}

// ---------------------------------------------------------------------------------------------
// writing

/// Prices whose shortest round-trip text is long or unusual, each a finite move from its
/// neighbours (folio refuses subnormal prices, and moves too large to compute with).
fn awkward_values() -> Vec<f64> {
    vec![
        0.1,
        1.0 / 3.0,
        2.0 / 3.0,
        1e-300,
        f64::MIN_POSITIVE,
        1.0,
        f64::MAX,
        123456789.12345679,
        1.0 + f64::EPSILON,
        std::f64::consts::PI,
        9007199254740991.0,
        0.30000000000000004,
    ]
}

#[test]
fn write_then_load_round_trips_dated_panels_bit_for_bit() {
    let values = awkward_values();
    let n = values.len();
    let mut prices = Array2::from_elem((n, 3), f64::NAN);
    for (t, v) in values.iter().enumerate() {
        prices[[t, 0]] = *v;
        prices[[t, 1]] = values[n - 1 - t];
        if t >= 2 && t < n - 2 {
            prices[[t, 2]] = (t as f64).sqrt() + 0.1; // leading and trailing blanks
        }
    }
    let start = date("2019-12-30");
    let index = TimeIndex::Dates((0..n).map(|t| start + chrono::Days::new(t as u64 * 3)).collect());
    let panel = PricePanel::new("mem", names(&["A", "B w", "C,1"]), index, prices);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.csv");
    write_prices(&panel, &path).unwrap();
    let back = load_prices(&path).unwrap();
    assert_eq!(back.assets, panel.assets);
    assert_eq!(back.index, panel.index);
    assert_same_bits(&back.prices, &panel.prices);
    assert_eq!(back.fingerprint(), panel.fingerprint());

    // A second round trip writes the same bytes.
    let first = std::fs::read(&path).unwrap();
    let again = dir.path().join("again.csv");
    write_prices(&back, &again).unwrap();
    assert_eq!(std::fs::read(&again).unwrap(), first);
}

#[test]
fn write_then_load_round_trips_undated_panels_bit_for_bit() {
    let values = awkward_values();
    let n = values.len();
    let mut prices = Array2::from_elem((n, 4), f64::NAN);
    for (t, v) in values.iter().enumerate() {
        prices[[t, 0]] = *v;
        prices[[t, 1]] = 1.0 / v.clamp(1e-10, 1e10);
        prices[[t, 2]] = v.sqrt();
        if t > 0 {
            prices[[t, 3]] = t as f64 * 0.7;
        }
    }
    let panel = PricePanel::new("mem", names(&["[", "\\", "]", "^"]), TimeIndex::Periods(n), prices);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("olps.csv");
    write_prices(&panel, &path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("[,\\,],^\n"), "{text}");
    let back = load_prices(&path).unwrap();
    assert_eq!(back.assets, panel.assets);
    assert_eq!(back.index, TimeIndex::Periods(n));
    assert_same_bits(&back.prices, &panel.prices);
    assert_eq!(back.fingerprint(), panel.fingerprint());
}

#[test]
fn single_asset_undated_panel_with_blank_cells_round_trips() {
    // With one column, a blank cell is written as `""`: it must load as a missing price, not be
    // skipped like a blank line.
    let prices = array![[f64::NAN], [f64::NAN], [1.5], [2.25], [f64::NAN]];
    let panel = PricePanel::new("mem", names(&["A"]), TimeIndex::Periods(5), prices);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.csv");
    write_prices(&panel, &path).unwrap();
    let back = load_prices(&path).unwrap();
    assert_eq!(back.index, TimeIndex::Periods(5));
    assert_same_bits(&back.prices, &panel.prices);
    assert_eq!(back.listing(0), Some(Listing { first: 2, last: 3 }));

    // Whitespace-only lines are still blank lines, not rows.
    let (_dir, _path, loaded) = load_text(
        "A
1
   
2

3
  
",
    );
    assert_eq!(loaded.index, TimeIndex::Periods(3));
    assert_eq!(loaded.prices, array![[1.0], [2.0], [3.0]]);
}

#[test]
fn bundled_djia_round_trips_bit_for_bit() {
    let panel = load_prices(&manifest("envs/data/olps/djia.csv")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("djia.csv");
    write_prices(&panel, &path).unwrap();
    let back = load_prices(&path).unwrap();
    assert_eq!(back.assets, panel.assets);
    assert_eq!(back.index, panel.index);
    assert_same_bits(&back.prices, &panel.prices);
}

#[test]
fn writing_is_atomic_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prices.csv");
    std::fs::write(&path, "old content that must be replaced entirely\n".repeat(1000)).unwrap();

    let panel = PricePanel::new(
        "mem",
        names(&["A", "B"]),
        dates(&["2020-01-01", "2020-01-02", "2020-01-03"]),
        array![[1.0, f64::NAN], [1.25, 2.5], [0.1, f64::NAN]],
    );
    write_prices(&panel, &path).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "date,A,B\n2020-01-01,1,\n2020-01-02,1.25,2.5\n2020-01-03,0.1,\n"
    );
    assert_eq!(folder_entries(dir.path()), vec!["prices.csv".to_string()]);

    // A large panel is written completely, with no temporary file left beside it.
    let rows = 5000;
    let big = Array2::from_shape_fn((rows, 3), |(t, i)| 1.0 + (t * 3 + i) as f64 / 7.0);
    let big = PricePanel::new("mem", names(&["X", "Y", "Z"]), TimeIndex::Periods(rows), big);
    write_prices(&big, &path).unwrap();
    assert_eq!(folder_entries(dir.path()), vec!["prices.csv".to_string()]);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), rows + 1);
    assert!(text.ends_with('\n'));
    let back = load_prices(&path).unwrap();
    assert_same_bits(&back.prices, &big.prices);

    // A new file in a folder that does not exist yet.
    let nested = dir.path().join("sub").join("new.csv");
    write_prices(&panel, &nested).unwrap();
    assert_eq!(folder_entries(&dir.path().join("sub")), vec!["new.csv".to_string()]);
}

#[test]
fn failed_write_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    // The destination is a folder, so the final rename must fail.
    let target = dir.path().join("taken");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep.txt"), "x").unwrap();
    let panel = fingerprint_panel();
    let error = write_prices(&panel, &target).unwrap_err();
    match &error {
        DataError::Write { path, .. } => assert_eq!(path, &target),
        other => panic!("expected DataError::Write, got {other:?}"),
    }
    let message = error.to_string();
    assert!(message.starts_with(&format!("cannot write {}: ", target.display())), "{message}");
    assert_eq!(folder_entries(dir.path()), vec!["taken".to_string()]);
    assert_eq!(folder_entries(&target), vec!["keep.txt".to_string()]);
}

/// Tickers' own files, joined on their dates: each read at its best price column, a ticker
/// listed later blank before its first date, a date one ticker lacks blank inside its listing.
#[test]
fn tickers_own_files_combine_into_one_wide_panel_on_every_date() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let files = [
        write(
            "AAA.csv",
            "Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-02,9,9,9,9,1.0,5\n\
             2020-01-03,9,9,9,9,1.1,5\n2020-01-06,9,9,9,9,1.2,5\n",
        ),
        write("BBB.csv", "date,price\n2020-01-03,2.1\n2020-01-06,2.2\n2020-01-07,2.3\n"),
        write("CCC.csv", "Date,Open,Close,Volume\n2020-01-02,7,3.0,5\n2020-01-06,7,3.2,5\n"),
    ];
    let panel = folio::data::combine::combine(&files).unwrap().panel;
    assert_eq!(panel.assets, ["AAA", "BBB", "CCC"]);
    let day = |d| NaiveDate::from_ymd_opt(2020, 1, d).unwrap();
    assert_eq!(panel.index, TimeIndex::Dates(vec![day(2), day(3), day(6), day(7)]));
    let column = |j: usize| {
        panel.asset_prices(j).iter().map(|p| if p.is_nan() { None } else { Some(*p) }).collect::<Vec<_>>()
    };
    assert_eq!(column(0), [Some(1.0), Some(1.1), Some(1.2), None], "the adjusted close, not the close");
    assert_eq!(column(1), [None, Some(2.1), Some(2.2), Some(2.3)]);
    assert_eq!(column(2), [Some(3.0), None, Some(3.2), None]);

    // A blank inside a ticker's own file is a date it has no price for, as a date it lacks; a
    // date that no file prices is no date of the panel.
    let gappy = write(
        "DDD.csv",
        "Date,Close\n2020-01-02,4.0\n2020-01-03,\n2020-01-06,null\n2020-01-07,4.3\n2020-01-08,\n",
    );
    let joined = folio::data::combine::combine(&[files[1].clone(), gappy]).unwrap().panel;
    assert_eq!(joined.index, TimeIndex::Dates(vec![day(2), day(3), day(6), day(7)]));
    let priced = |j: usize| joined.asset_prices(j).iter().map(|p| p.is_finite()).collect::<Vec<_>>();
    assert_eq!(priced(0), [false, true, true, true]);
    assert_eq!(priced(1), [true, false, false, true]);

    let refused = |files: &[PathBuf]| folio::data::combine::combine(files).unwrap_err().to_string();
    let again = dir.path().join("again");
    std::fs::create_dir(&again).unwrap();
    let twin = again.join("AAA.csv");
    std::fs::copy(&files[0], &twin).unwrap();
    assert!(refused(&[files[0].clone(), twin]).contains("names the same ticker 'AAA'"));
    let wide = write("WIDE.csv", "date,A,B\n2020-01-02,1,2\n");
    assert!(refused(&[wide]).contains("holds 2 price columns (A, B), not one ticker's prices"));
    let undated = write("UND.csv", "price\n1\n2\n");
    assert!(refused(&[undated]).contains("has no dates"));
    let no_close = write("NOC.csv", "Date,Open,Volume\n2020-01-02,1,5\n");
    let message = refused(&[no_close]);
    assert!(
        message.contains("NOC.csv, line 1: no Close or Adj Close column to read (its columns: Open, Volume)"),
        "{message}"
    );
}

/// Cells that the reader treats specially, and their near misses: headers of downloads, dates in
/// every accepted form and some that are not, missing-value marks, grouped and broken numbers.
const CELLS: [&str; 24] = [
    "",
    "Date",
    "date",
    "Price",
    "Ticker",
    "Close",
    "Adj Close",
    "Volume",
    "A",
    "B",
    "1",
    "2.5",
    "1,234.5",
    "1,5",
    "13/1/2020",
    "1/13/2020",
    "2020-01-02",
    "2020-01-03 00:00:00-05:00",
    "2020/01/04",
    "NaN",
    "-",
    "\"",
    "0",
    "x",
];

/// Header rows the reader reads in different ways, to start a fuzzed file with.
const HEADERS: [&str; 8] = [
    "date,A,B",
    "A,B",
    ",A,B",
    "Price,Close,Close,Volume",
    "Ticker,A,A,B",
    ",Adj Close,Close",
    "Date,Open,High,Low,Close",
    "Date,,,",
];

proptest::proptest! {
    /// Whatever the file holds, reading it ends in panels or in an error that names the file:
    /// never a panic.
    #[test]
    fn any_file_loads_or_is_refused_by_name_without_a_panic(
        headers in proptest::collection::vec(0..HEADERS.len(), 0..3),
        rows in proptest::collection::vec(proptest::collection::vec(0..CELLS.len(), 1..6), 0..8),
        tabs in proptest::bool::ANY,
        crlf in proptest::bool::ANY,
    ) {
        let (separator, newline) = (if tabs { "\t" } else { "," }, if crlf { "\r\n" } else { "\n" });
        let text: Vec<String> = headers
            .iter()
            .map(|&h| HEADERS[h].replace(',', separator))
            .chain(rows.iter().map(|row| row.iter().map(|&c| CELLS[c]).collect::<Vec<_>>().join(separator)))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fuzzed.csv");
        std::fs::write(&path, text.join(newline)).unwrap();
        for missing in [MissingPrices::Error, MissingPrices::CarryForward] {
            if let Err(error) = read_prices(&path, missing) {
                let message = error.to_string();
                proptest::prop_assert!(message.contains("fuzzed.csv"), "{message}");
            }
        }
    }
}

#[test]
fn a_config_without_periods_per_year_annualizes_by_how_often_its_dated_rows_come() {
    use folio::env::config::EnvConfig;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, days_apart: u64, dated: bool| {
        let mut text = String::from(if dated { "date,A,B\n" } else { "A,B\n" });
        let mut day = NaiveDate::from_ymd_opt(2001, 1, 5).unwrap();
        for t in 0..120 {
            let date = if dated { format!("{day},") } else { String::new() };
            text.push_str(&format!("{date}{},{}\n", 100.0 + t as f64, 50.0 + (t % 7) as f64));
            day = day.checked_add_days(chrono::Days::new(days_apart)).unwrap();
        }
        std::fs::write(dir.path().join(name), text).unwrap();
    };
    write("weekly.csv", 7, true);
    write("monthly.csv", 30, true);
    write("undated.csv", 1, false);
    let load = |file: &str, line: &str| {
        let path = dir.path().join(format!("{file}-{}.toml", line.len()));
        std::fs::write(&path, format!("[data]\nfile = \"{file}.csv\"\n{line}")).unwrap();
        EnvConfig::load(&path).unwrap().data.periods_per_year
    };
    assert_eq!(load("weekly", ""), 52.0);
    assert_eq!(load("monthly", ""), 12.0);
    // Undated rows say nothing of the calendar: the daily default.
    assert_eq!(load("undated", ""), 252.0);
    // A value the config writes is the user's, even one the rows disagree with (which the
    // commands warn about).
    assert_eq!(load("weekly", "periods_per_year = 252\n"), 252.0);
    assert_eq!(load("monthly", "periods_per_year = 4\n"), 4.0);
    // A file backtested without a config of its own is annualized by its rows too, unless told.
    let weekly = dir.path().join("weekly.csv");
    for (flag, periods_per_year) in [(None, 52.0), (Some("12"), 12.0)] {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_folio"));
        command.args(["backtest", "--strategy", "equal-weight", "--json", "--data"]).arg(&weekly);
        command.args(["--out"]).arg(dir.path().join(format!("bt-{periods_per_year}")));
        if let Some(flag) = flag {
            command.args(["--periods-per-year", flag]);
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        // The value that disagrees with the rows came from the flag: the warning says to mend that.
        let warned = stderr.contains("pass --periods-per-year 52") && !stderr.contains("config");
        assert_eq!(warned, flag.is_some(), "{stderr}");
        let mut inspect = std::process::Command::new(env!("CARGO_BIN_EXE_folio"));
        inspect.args(["data", "inspect"]).arg(&weekly).args(["--periods-per-year", flag.unwrap_or("52")]);
        let shown = String::from_utf8_lossy(&inspect.output().unwrap().stdout).into_owned();
        let warned = shown.contains("pass --periods-per-year 52") && !shown.contains("config");
        assert_eq!(warned, flag.is_some(), "{shown}");
        // Rows, which a backtest's periods of returns are one fewer than.
        assert!(shown.contains("2 assets, 120 rows, "), "{shown}");
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let metrics = &report["results"][0]["metrics"];
        let (wealth, periods) =
            (metrics["final_wealth"].as_f64().unwrap(), metrics["periods"].as_f64().unwrap());
        let cagr = wealth.powf(periods_per_year / periods) - 1.0;
        assert!((metrics["cagr"].as_f64().unwrap() - cagr).abs() < 1e-9, "{periods_per_year}: {metrics}");
    }
}

#[test]
fn a_file_read_again_after_it_changed_gives_its_new_prices() {
    // Commands read their file several times as they start, and the last parse is kept: a file
    // changed in between, even to the same length, and the same file read under another rule for
    // missing prices, must read as they are now.
    let (_dir, path) = temp_csv("date,A,B\n2020-01-01,1.0,2.0\n2020-01-02,1.5,2.5\n");
    assert_eq!(load_prices(&path).unwrap().prices, array![[1.0, 2.0], [1.5, 2.5]]);
    std::fs::write(&path, "date,A,B\n2020-01-01,1.0,2.0\n2020-01-02,1.5,2.6\n").unwrap();
    assert_eq!(load_prices(&path).unwrap().prices, array![[1.0, 2.0], [1.5, 2.6]]);

    std::fs::write(&path, "date,A,B\n2020-01-01,1.0,2.0\n2020-01-02,,2.6\n2020-01-03,1.2,2.7\n").unwrap();
    let filled = read_prices(&path, MissingPrices::CarryForward).unwrap();
    assert_eq!(filled.panel.prices[[1, 0]], 1.0);
    assert!(read_prices(&path, MissingPrices::Error).is_err(), "a gap is refused unless filled");
}

/// A column the config does not select is not read: a failed download's empty column, a ticker
/// with a spreadsheet error in a cell or a gap does not stop a config that leaves it out, while
/// the same file still refuses to load those assets, naming the cell.
#[test]
fn columns_a_config_leaves_out_cannot_stop_it() {
    let text = "date,A,EMPTY,BAD,B\n2020-01-02,1,,2,3\n2020-01-03,1.1,,#VALUE!,3.1\n2020-01-06,1.2,,,3.2\n\
                2020-01-07,1.3,,4,3.3\n";
    let (_dir, path) = temp_csv(text);
    let mut config = folio::env::config::DataConfig::new(path.clone());
    config.assets = names(&["B", "A"]);
    let selection = config.selection().unwrap();
    assert_eq!(selection.panel.assets, names(&["B", "A"]));
    assert_eq!(selection.panel.prices, array![[3.0, 1.0], [3.1, 1.1], [3.2, 1.2], [3.3, 1.3]]);
    // Selected, each is refused with the cell that stops it; all assets, the first of them.
    config.assets = names(&["A", "BAD"]);
    let error = config.selection().unwrap_err().to_string();
    assert!(error.contains("line 3, column 4 (BAD): '#VALUE!' is not a number"), "{error}");
    config.assets = names(&["EMPTY"]);
    assert!(config.selection().unwrap_err().to_string().contains("the column has no prices at all"));
    config.assets = Vec::new();
    let error = config.selection().unwrap_err().to_string();
    assert!(
        error.contains("#VALUE!") && error.contains("or leave 'BAD' out: list the other assets"),
        "{error}"
    );
    // An asset the file lacks is still named as missing, among every column the file has.
    config.assets = names(&["A", "C"]);
    let error = config.selection().unwrap_err().to_string();
    assert!(error.contains("'C'") && error.contains("EMPTY"), "{error}");
}

/// A market counts a year in its rows as its config says, so that undated monthly rows give
/// the rules that look back a year 12 rows, not the daily 252; dated rows say it themselves.
#[test]
fn a_market_counts_a_year_as_its_config_says() {
    use folio::env::{Market, config::EnvConfig};
    let dir = tempfile::tempdir().unwrap();
    let rows: String = (0..80).map(|t| format!("{},{}\n", 100.0 + t as f64, 50.0 + (t % 7) as f64)).collect();
    std::fs::write(dir.path().join("monthly.csv"), format!("A,B\n{rows}")).unwrap();
    let year = |setting: &str| {
        let path = dir.path().join("monthly.toml");
        let text = format!("[data]\nfile = \"monthly.csv\"\n{setting}[features]\nwindow = 5\n");
        std::fs::write(&path, text).unwrap();
        Market::from_config(&EnvConfig::load(&path).unwrap()).unwrap().0.periods_per_year
    };
    assert_eq!(year("periods_per_year = 12\n"), 12.0);
    assert_eq!(year(""), 252.0, "undated rows say nothing of their frequency");
}
