"""Bulk onboarding: a programme officer's CSV of groups and members (see vision_ledger.imports)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import g, request

from vision_ledger import imports, spreadsheet
from vision_ledger.actors import can_administer

from ..problems import ApiProblem
from ..schemas.imports import ImportQuery, ImportReportSchema
from ..session import session
from . import ID, blueprint

blp = blueprint("imports", "Bulk onboarding of groups and members from a CSV file")

CSV_TYPES = ("text/csv", "application/csv", "application/vnd.ms-excel")
BODY_DOC = {
    "required": True,
    "description": "The CSV (UTF-8, with or without BOM; comma, semicolon or tab delimited), as the "
                   "body itself or as the `file` field of a form upload. At most 1 MiB, 5,000 rows.",
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary"}}}},
    },
}


def _csv_body() -> bytes:
    """The file's bytes: a text/csv body, or the `file` field of a multipart upload."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ApiProblem(400, "import.file_required",
                             "Upload the CSV as the form field 'file'", field="file")
        return upload.read(spreadsheet.MAX_BYTES + 1)
    if request.mimetype in CSV_TYPES:
        return request.get_data(cache=False)
    raise ApiProblem(415, "http.unsupported_media_type",
                     "Send the CSV as a text/csv body or as a multipart/form-data upload (field 'file')",
                     accepted=["text/csv", "multipart/form-data"])


@blp.route(f"/programmes/<{ID}:programme_id>/imports", methods=["POST"])
@blp.doc(requestBody=BODY_DOC)
@blp.arguments(ImportQuery, location="query", unknown=ma.RAISE)  # "dryrun=1" must not write
@blp.response(200, ImportReportSchema, description="A dry run, or a run that found everything "
              "already stored: the report; nothing was written")
@blp.alt_response(201, schema=ImportReportSchema, description="Groups or members were created")
def import_members(query: dict[str, Any], programme_id: int) -> Any:
    """Import groups and members from a CSV (the programme's admins).

    All or nothing: a row in error (422 `import.rows_invalid`, the report in `facts`) writes
    nothing; `dry_run=true` answers the same report without writing. A re-run of the same file
    changes nothing. Groups are matched by name and village, members by group and phone.
    """
    can_administer(g.actor, programme_id=programme_id)  # before the body is even read
    defaults = imports.ImportDefaults(timezone=query.get("timezone"), schedule=query.get("schedule"),
                                      group_language=query.get("group_language"))
    report = imports.import_members(session(), g.actor, g.programme, _csv_body(),
                                    dry_run=query["dry_run"], defaults=defaults)
    return report.as_dict(), 201 if report.written else 200
