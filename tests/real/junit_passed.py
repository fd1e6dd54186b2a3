"""Prints the ids of the tests that passed in a JUnit XML file written by CPython's
regrtest (--junit-xml), one a line, sorted: a testcase with no failure, error or skipped
child. Usage: python3 junit_passed.py FILE.xml"""
import sys
import xml.etree.ElementTree as ET

passed = set()
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    if not any(child.tag in ("failure", "error", "skipped") for child in case):
        passed.add(case.get("name"))
for name in sorted(passed):
    print(name)
