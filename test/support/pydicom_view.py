"""How pydicom (Debian python3-pydicom 2.3), a reader we did not write, sees DICOM files: for tests.

Usage: python3 pydicom_view.py COMMAND [ARGS...] FILE...; prints one JSON object keyed by file.
  view                  every element at every nesting level, as [tag, vr, value] (group 0002 is in "meta")
  text                  every text value at every nesting level, decoded (PN: each component group)
  identifying TABLE     the identifying values of each file: person name components, IDs, dates, UIDs the
                        Basic Profile replaces (TABLE is Table E.1-1 as JSON), institution and station names
Each file's entry is {"error": "..."} when pydicom cannot read it, so one bad file never hides the others.
"""
import hashlib
import json
import re
import sys

import pydicom
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.valuerep import PersonName

BINARY_VRS = {"OB", "OW", "OD", "OF", "OL", "OV", "UN", "OB or OW", "US or OW", "ox"}


def text_of(value):
    return str(value).rstrip(" \x00")


def plain(elem):
    """A JSON-able value; text without trailing padding, binary as hex (or a digest when large)."""
    value = elem.value
    if elem.VR == "SQ":
        return [items_of(item) for item in value]
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
        if len(data) > 4096:
            return {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        return data.hex()
    if isinstance(value, MultiValue) or isinstance(value, list):
        return [text_of(v) if isinstance(v, (str, PersonName)) else plain_number(v) for v in value]
    if isinstance(value, (str, PersonName)):
        return text_of(value)
    return plain_number(value)


def plain_number(v):
    if isinstance(v, float):
        return repr(v)
    if hasattr(v, "original_string") and getattr(v, "original_string", None):
        return str(v.original_string).strip()
    return str(v).strip() if not isinstance(v, int) else v


def items_of(ds):
    out = []
    for elem in ds:
        tag = f"{elem.tag.group:04X}{elem.tag.element:04X}"
        out.append([tag, elem.VR, plain(elem)])
    return out


def texts(ds, out):
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                texts(item, out)
            continue
        values = elem.value if isinstance(elem.value, (MultiValue, list)) else [elem.value]
        for v in values:
            if isinstance(v, PersonName):
                for group in v.components:
                    if group:
                        out.append(group)
            elif isinstance(v, str):
                out.append(v)
    return out


IDENTIFYING_KEYWORDS = {
    "PatientID", "OtherPatientIDs", "IssuerOfPatientID", "AccessionNumber", "StudyID", "InstitutionName",
    "InstitutionAddress", "InstitutionalDepartmentName", "StationName", "DeviceSerialNumber", "PatientAddress",
    "PatientTelephoneNumbers", "MedicalRecordLocator", "AdmissionID", "RequestedProcedureID",
    "PerformedProcedureStepID", "ScheduledProcedureStepID", "FillerOrderNumberImagingServiceRequest",
    "PlacerOrderNumberImagingServiceRequest", "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers",
    "ResponsibleOrganization", "VerifyingOrganization", "PerformedStationName", "ScheduledStationName",
    "RequestingService", "ClinicalTrialSubjectID", "ServiceEpisodeID", "IssuerOfAdmissionID",
}


def identifying(ds, replaced_uids, out):
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                identifying(item, replaced_uids, out)
            continue
        tag = f"{elem.tag.group:04X}{elem.tag.element:04X}"
        values = elem.value if isinstance(elem.value, (MultiValue, list)) else [elem.value]
        for v in values:
            if v is None:
                continue
            if elem.VR == "PN":
                for group in v.components:
                    for component in re.split(r"\^", group or ""):
                        component = component.strip()
                        if len(component) >= 3:
                            out.append({"tag": tag, "kind": "name", "value": component})
            elif elem.VR in ("DA", "DT"):
                s = str(v).strip()
                if re.match(r"^\d{8}", s):
                    out.append({"tag": tag, "kind": "date", "value": s[:8]})
            elif elem.VR == "UI" and tag in replaced_uids:
                s = str(v).strip("\x00 ")
                if s:
                    out.append({"tag": tag, "kind": "uid", "value": s})
            elif elem.keyword in IDENTIFYING_KEYWORDS and isinstance(v, str):
                s = v.strip()
                if len(s) >= 3:
                    out.append({"tag": tag, "kind": elem.keyword, "value": s})
    return out


def main():
    command = sys.argv[1]
    args = sys.argv[2:]
    replaced_uids = set()
    if command == "identifying":
        with open(args[0], encoding="utf-8") as f:
            table = json.load(f)
        for row in table["rows"]:
            if re.match(r"^\([0-9A-F]{4},[0-9A-F]{4}\)$", row["tag"]) and "U" in row["basicProfile"]:
                replaced_uids.add(row["tag"][1:5] + row["tag"][6:10])
        args = args[1:]
    result = {}
    for path in args:
        try:
            ds = pydicom.dcmread(path, force=True)
            if command == "view":
                meta = items_of(ds.file_meta) if hasattr(ds, "file_meta") else []
                result[path] = {"meta": meta, "dataset": items_of(ds)}
            elif command == "text":
                result[path] = texts(ds, [])
            elif command == "identifying":
                result[path] = identifying(ds, replaced_uids, [])
            else:
                raise SystemExit(f"unknown command {command}")
        except Exception as err:  # one entry per file, so the test can name it
            result[path] = {"error": f"{type(err).__name__}: {err}"}
    json.dump(result, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
