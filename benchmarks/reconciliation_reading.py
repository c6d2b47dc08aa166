"""Reading a developer's sales list (销售台账): 100k rows as XLSX and as GB18030 CSV.

Generates both files (a third of the phones masked, half of those 前三后四 and half
前四后三; the rest as number cells, plain text, ``+86 138-1234-5678`` and full-width
digits; one row in a thousand unusable, like ``1.38E+10``; a project column merged
down blocks of rows in the XLSX; title rows above the header and a 合计 row at the
bottom), then, for each file in a fresh child process, times ``sniff`` and
``read_rows`` to the last row and prints rows/s and the peak RSS of the reading.
Beside each it times the bare reader (``csv.reader`` over the decoded text, or
python-calamine's ``iter_rows``) over the same file: the ratio shows what typing the
cells costs on top of only splitting the file.

    .venv/bin/python benchmarks/reconciliation_reading.py            # 100,000 rows
    .venv/bin/python benchmarks/reconciliation_reading.py --rows 10000

Progress goes to stderr, the report to stdout. Exit status 1 when a count is wrong.
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._measure import log, max_rss_mb, proc_status_mb, reset_peak_rss  # noqa: E402

HEADERS = ["序号", "项目", "客户姓名", "联系电话", "房号", "成交总价（万元）", "签约日期", "成交渠道", "置业顾问", "备注"]
CHANNELS = ["自然到访", "自访", "链家", "贝壳找房", "我爱我家", "", "案场", "中原地产"]
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
BLOCK = 50  # rows per merged project cell in the XLSX


# --- the files -----------------------------------------------------------------------------------

def phone_shape(rng: random.Random, i: int, *, xlsx: bool):
    """(cell value, kind) with kind "masked", "exact" or "bad"."""
    number = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
    if i % 1000 == 999:
        return "1.38E+10", "bad"
    if i % 3 == 0:
        return (number[:3] + "****" + number[-4:] if i % 2 else number[:4] + "****" + number[-3:]), "masked"
    shape = i % 5
    if shape == 0 and xlsx:
        return int(number), "exact"
    if shape == 1:
        return f"+86 {number[:3]}-{number[3:7]}-{number[7:]}", "exact"
    if shape == 2:
        return number.translate(FULL_WIDTH), "exact"
    return number, "exact"


def generate(rows: int, directory: Path, seed: int) -> dict:
    import xlsxwriter

    rng = random.Random(seed)
    expected = {"rows": 0, "errors": 0, "masked": 0, "totals": 1}
    xlsx_path, csv_path = directory / "sales.xlsx", directory / "sales_gb18030.csv"
    workbook = xlsxwriter.Workbook(str(xlsx_path), {"constant_memory": True})
    sheet = workbook.add_worksheet("销售台账")
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    sheet.merge_range(0, 0, 0, len(HEADERS) - 1, "云栖项目 2026年11月 销售台账")
    sheet.write_row(1, 0, ["统计口径：网签", "", "", "", "", "", "", "", "", "制表：案场"])
    sheet.write_row(2, 0, HEADERS)
    total_wan = 0.0
    with open(csv_path, "w", encoding="gb18030", newline="") as text:
        out = csv.writer(text, lineterminator="\r\n")
        out.writerow(["云栖项目 2026年11月 销售台账"])
        out.writerow(HEADERS)
        for i in range(rows):
            r = i + 3
            phone, kind = phone_shape(rng, i, xlsx=True)
            csv_phone, _ = phone_shape(random.Random(i), i, xlsx=False)
            expected["rows" if kind != "bad" else "errors"] += 1
            expected["masked"] += kind == "masked"
            price = rng.randrange(800_000, 9_000_000)  # 元
            total_wan += price / 10_000  # only shown in the 合计 row, never read as money
            sold = date(2026, 1, 1) + timedelta(days=i % 330)
            channel = CHANNELS[i % len(CHANNELS)]
            unit = f"{i // 2000 + 1}-{(i // 100) % 20 + 1}{i % 100:02d}"
            project = f"云栖{i // 20_000 + 1}期"
            if i % BLOCK == 0:
                last = min(r + BLOCK - 1, rows + 2)
                if last > r:
                    sheet.merge_range(r, 1, last, 1, project)
                else:
                    sheet.write_string(r, 1, project)
            sheet.write_number(r, 0, i + 1)
            sheet.write_string(r, 2, f"客户{i}")
            if isinstance(phone, int):
                sheet.write_number(r, 3, phone)
            else:
                sheet.write_string(r, 3, phone)
            sheet.write_string(r, 4, unit)
            sheet.write_number(r, 5, price / 10_000)
            sheet.write_datetime(r, 6, sold, date_format)
            sheet.write_string(r, 7, channel)
            sheet.write_string(r, 8, f"顾问{i % 37}")
            dates = (sold.isoformat(), f"{sold.year}/{sold.month}/{sold.day}", f"{sold.year}年{sold.month}月{sold.day}日",
                     str((sold - date(1899, 12, 30)).days))
            out.writerow([i + 1, project, f"客户{i}", csv_phone, unit, f"{price / 10_000:.4f}".rstrip("0").rstrip("."),
                          dates[i % 4], channel, f"顾问{i % 37}", "首付分期\n已审批" if i % 997 == 0 else ""])
        total_row = rows + 3
        sheet.merge_range(total_row, 0, total_row, 4, "合计")
        sheet.write_number(total_row, 5, total_wan)
        out.writerow(["合计", "", "", "", "", f"{total_wan:.4f}", "", "", "", ""])
    workbook.close()
    return {"xlsx": str(xlsx_path), "csv": str(csv_path), "expected": expected}


# --- the measurement (child process) -----------------------------------------------------------------

def measure(kind: str, path: str) -> dict:
    from estate_platform.reconciliation import read_rows, sniff
    from estate_platform.reconciliation.files import csv_rows, open_workbook, sheet_rows, sniff_delimiter, \
        text_encoding

    content = Path(path).read_bytes()
    result = {"kind": kind, "file_mb": len(content) / 2**20, "rss_before_mb": proc_status_mb("VmRSS"),
              "peak_reset": reset_peak_rss()}
    started = time.perf_counter()
    preview = sniff(content, Path(path).name)
    result["sniff_s"] = time.perf_counter() - started
    started = time.perf_counter()
    stream = read_rows(content, Path(path).name, preview.suggested)
    masked = rows = errors = 0
    for item in stream:
        if hasattr(item, "reason_zh"):
            errors += 1
        else:
            rows += 1
            masked += bool(item.masked)
    result["read_s"] = time.perf_counter() - started
    result["peak_mb"] = proc_status_mb("VmHWM")
    result["ru_maxrss_mb"] = max_rss_mb()
    result.update(rows=rows, errors=errors, masked=masked, totals=stream.stats.skipped_totals,
                  header_line=stream.header_line, first_error_line=None)
    # the bare reader over the same bytes: no cell typed
    started = time.perf_counter()
    if kind == "csv":
        encoding = text_encoding(content)
        bare = sum(1 for _ in csv_rows(content, encoding, sniff_delimiter(content, encoding)))
    else:
        workbook = open_workbook(content)
        bare = sum(1 for _ in sheet_rows(workbook, preview.sheet))
    result["bare_s"] = time.perf_counter() - started
    result["bare_lines"] = bare
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", metavar="DIR", help="write the files to DIR and keep them")
    parser.add_argument("--measure", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return 0

    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(args.keep or scratch)
        directory.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        files = generate(args.rows, directory, args.seed)
        log(f"files written in {time.perf_counter() - started:.1f}s")
        results = []
        for kind in ("xlsx", "csv"):
            log(f"reading the {kind} file in a fresh process")
            done = subprocess.run([sys.executable, __file__, "--measure", kind, files[kind]], check=True,
                                  capture_output=True, text=True)
            results.append(json.loads(done.stdout))
    expected = files["expected"]
    ok = True
    print(f"Sales-list reading: {args.rows:,} rows (a third masked), title rows, a 合计 row")
    print(f"  {'file':<6}{'MB':>6}{'sniff s':>9}{'read s':>8}{'rows/s':>10}{'bare s':>8}{'read/bare':>10}"
          f"{'peak RSS MB':>13}{'RSS before':>12}  rows / errors / masked / totals")
    for r in results:
        per_second = (r["rows"] + r["errors"]) / r["read_s"]
        print(f"  {r['kind']:<6}{r['file_mb']:>6.1f}{r['sniff_s']:>9.2f}{r['read_s']:>8.2f}{per_second:>10,.0f}"
              f"{r['bare_s']:>8.2f}{r['read_s'] / r['bare_s']:>10.1f}{r['peak_mb'] or 0:>13.0f}"
              f"{r['rss_before_mb'] or 0:>12.0f}  {r['rows']:,} / {r['errors']:,} / {r['masked']:,} / {r['totals']}")
        for name in ("rows", "errors", "masked", "totals"):
            if r[name] != expected[name]:
                ok = False
                print(f"  CHECK FAILED: {r['kind']} {name} {r[name]} != expected {expected[name]}")
    print("  peak RSS: VmHWM reset just before sniffing, so it is the reading's own peak (file bytes included)")
    print("  checks: " + ("OK" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
