"""Documents for retrieval: upload (multipart), status, list, delete.

An upload is checked here (size, type), stored with its bytes, and announced on
docs.ingest.v1; the ingestion stage does the rest and records its progress on the
document, which is what ``GET /v1/documents/{id}`` shows.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, File, Form, Path, Query, Request, Response, UploadFile
from pydantic import ValidationError
from starlette.datastructures import UploadFile as FilePart

from api.assistants.use import AssistantRefused, find_version
from api.deps import Principal, PrincipalDep, ServicesDep, own_conversation
from api.errors import ApiError
from api.guards.limits import count
from api.services import EdgeServices
from kernel.errors import StoreUnavailable
from kernel.urls import MAX_URL_CHARS, BadUrl, check_url
from schemas.events import DocumentSubmitted, new_id, utcnow
from schemas.http import DocumentFromUrl, DocumentList, DocumentOut, PassageOut
from schemas.media import SUPPORTED_MEDIA_TYPES, resolve_media_type
from schemas.scopes import TENANT, Scope
from schemas.topics import INGEST
from stores.documents.base import Document, DocumentStore
from stores.vectors.base import VectorIndex

__all__ = ("router",)

router = APIRouter(prefix="/v1/documents", tags=["documents"])

_SUPPORTED = ", ".join(sorted(ext for exts in SUPPORTED_MEDIA_TYPES.values() for ext in exts))


def _out(d: Document) -> DocumentOut:
    progress = 1.0 if d.status == "ready" else (
        d.chunks_done / d.chunks_total if d.chunks_total else 0.0)
    return DocumentOut(
        id=d.id, title=d.title, filename=d.filename, media_type=d.media_type, size=d.size,
        conversation_id=d.conversation_id, scope=str(d.scope), status=d.status,
        progress=round(progress, 4),
        chunks_done=d.chunks_done, chunks_total=d.chunks_total, error=d.error,
        created_at=d.created_at, updated_at=d.updated_at or d.created_at, url=d.url,
        fetched_at=d.fetched_at, changes=d.changes)


def _parts(services: EdgeServices) -> tuple[DocumentStore, VectorIndex]:
    if services.documents is None or services.vectors is None:
        raise ApiError(503, "unavailable", "documents are not configured on this edge")
    return services.documents, services.vectors


def _unavailable() -> ApiError:
    # No detail: the store's error names hosts and ports.
    return ApiError(503, "unavailable", "document storage is unavailable; retry shortly",
                    headers={"Retry-After": "5"})


_URL_BODY = {"application/json": {"schema": {
    "type": "object", "required": ["url"], "additionalProperties": False,
    "description": "a page to fetch and index (http or https; fetched by the ingestion "
                   "stage under the SSRF rules of docs/security.md)",
    "properties": {"url": {"type": "string", "maxLength": MAX_URL_CHARS},
                   "title": {"type": "string", "maxLength": 200},
                   "scope": {"type": "string", "maxLength": 220}}}}}


@router.post("", status_code=202, response_model=DocumentOut,
             openapi_extra={"requestBody": {"content": _URL_BODY}})
async def upload_document(
    services: ServicesDep, principal: PrincipalDep, request: Request,
    file: Annotated[UploadFile | None, File(
        description="PDF, text, Markdown, HTML, PNG or JPEG")] = None,
    conversation_id: Annotated[str | None, Form(
        max_length=200, description="only this conversation retrieves it (the same as "
        "scope=conversation:<id>); empty: the scope decides")] = None,
    title: Annotated[str | None, Form(max_length=200)] = None,
    scope: Annotated[str | None, Form(
        max_length=220, description="where its passages may be cited: `tenant` (the "
        "default: every member's answers), `assistant:<name>` (that assistant's answers; "
        "admins) or `conversation:<id>` (only that conversation "
        "of the caller's)")] = None,
) -> DocumentOut:
    documents, _ = _parts(services)
    if request.headers.get("content-type", "").startswith("application/json"):
        return await _from_url(services, principal, await _url_body(request))
    if file is None:
        raise ApiError(422, "missing_file", "send a file (multipart) or a JSON body with "
                       "a url")
    # The form is parsed once (FastAPI's, cached); a second file would be stored and
    # never indexed nor counted.
    form = await request.form()
    if sum(isinstance(v, FilePart) for _, v in form.multi_items()) != 1:
        raise ApiError(400, "one_file_per_upload", "send exactly one file per upload")
    limit = services.settings.max_document_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, "document_too_large", f"the document is over the limit of "
                       f"{limit} bytes")
    # Some clients send a path; only its last part names the document.
    filename = (file.filename or "document").replace("\\", "/").rsplit("/", 1)[-1][:200]
    media_type = resolve_media_type(filename, file.content_type, data[:16])
    if media_type is None:
        raise ApiError(415, "unsupported_media_type",
                       f"{filename} ({file.content_type or 'no type'}) is not a supported "
                       f"document type; supported: {_SUPPORTED}")
    if not data:
        raise ApiError(422, "empty_document", "the document is empty")
    where = _scope_of(scope, conversation_id)
    await _check_scope(services, principal, where)
    await count(services, principal, documents=1)
    now = utcnow()
    document = Document(
        tenant_id=principal.tenant_id, id=new_id(), user_id=principal.user_id,
        title=(title or "").strip() or filename, filename=filename, media_type=media_type,
        size=len(data), created_at=now, scope=where,
        status="queued", updated_at=now)
    try:
        await documents.create(document, data)
    except StoreUnavailable as exc:
        raise _unavailable() from exc
    await _announce(services, document)
    return _out(document)


async def _url_body(request: Request) -> DocumentFromUrl:
    try:
        return DocumentFromUrl.model_validate_json(await request.body())
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        raise ApiError(422, "invalid_body", f"{where}: {err['msg']}") from None


def _checked_url(url: str, *, allow_loopback: bool) -> str:
    """Refused at once when it can never be fetched: the scheme, credentials, or an
    internal address written as such. Names are resolved (and every address checked)
    by the fetcher, at each hop."""
    try:
        _, host, _ = check_url(url)
    except BadUrl as exc:
        raise ApiError(422, "invalid_url", str(exc)) from None
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return url
    if not literal.is_global and not (allow_loopback and literal.is_loopback):
        raise ApiError(422, "invalid_url", f"{host} is an internal address: not fetched")
    return url


async def _from_url(services: EdgeServices, principal: Principal,
                    body: DocumentFromUrl) -> DocumentOut:
    documents, _ = _parts(services)
    url = _checked_url(body.url,
                       allow_loopback=services.settings.url_fetch_allow_loopback)
    where = _scope_of(body.scope, None)
    await _check_scope(services, principal, where)
    await count(services, principal, documents=1)
    now = utcnow()
    parts = urlsplit(url)
    document = Document(
        tenant_id=principal.tenant_id, id=new_id(), user_id=principal.user_id,
        title=(body.title or "").strip() or url,
        filename=(parts.hostname or "page") + (parts.path if parts.path != "/" else ""),
        media_type="text/html", size=0, created_at=now, scope=where, status="queued",
        updated_at=now, url=url)
    try:
        await documents.create(document, b"")
    except StoreUnavailable as exc:
        raise _unavailable() from exc
    await _announce(services, document)
    return _out(document)


async def _announce(services: EdgeServices, document: Document, *,
                    refetch: bool = False) -> None:
    await services.runtime.publisher.publish(INGEST, document.id, DocumentSubmitted(
        tenant_id=document.tenant_id, document_id=document.id,
        filename=document.filename[:200], media_type=document.media_type,
        blob_ref=f"store:documents/{document.id}",
        conversation_id=document.conversation_id, user_id=document.user_id,
        url=document.url, refetch=refetch))


@router.post("/{document_id}/refetch", status_code=202, response_model=DocumentOut)
async def refetch_document(document_id: str, services: ServicesDep,
                           principal: PrincipalDep) -> DocumentOut:
    """Fetch a page ingested by URL again and index what it says now; once done, the
    document's ``changes`` say what changed in its text (a unified diff) and
    ``fetched_at`` when. A page that cannot be fetched keeps its passages, with the
    reason in ``error``."""
    documents, _ = _parts(services)
    found = await _find(documents, principal, document_id)
    if found is None:
        raise ApiError(404, "not_found", f"document {document_id} not found")
    if found.user_id != principal.user_id and not principal.is_admin:
        raise ApiError(403, "forbidden", "only its uploader or an admin re-fetches a page")
    if found.url is None:
        raise ApiError(409, "not_a_page", "only a document added by URL can be re-fetched")
    await _announce(services, found, refetch=True)
    return _out(found)


def _scope_of(scope: str | None, conversation_id: str | None) -> Scope:
    try:
        parsed = Scope.parse(scope) if scope else TENANT
        if conversation_id:
            by_id = Scope.conversation(conversation_id)
            if scope and parsed != by_id:
                raise ValueError("conversation_id and scope name different scopes")
            parsed = by_id
    except ValueError as exc:
        raise ApiError(422, "invalid_scope", str(exc)) from None
    return parsed


async def _check_scope(services: EdgeServices, principal: Principal, scope: Scope) -> None:
    """Only a scope the caller may add to: the tenant's library, their own conversation
    (404 otherwise, as for any conversation not theirs), or, for admins, an assistant's
    knowledge (404 when the tenant has no such assistant)."""
    if scope.kind == "conversation":
        await own_conversation(services, principal, scope.id)
    elif scope.kind == "assistant":
        if not principal.is_admin:
            raise ApiError(403, "forbidden", "an assistant's documents are its admins' to add")
        try:
            await find_version(services, principal.tenant_id, scope.id, new_use=False)
        except AssistantRefused as exc:
            raise ApiError(404, "assistant_not_found", exc.message) from None


def _visible(d: Document, principal: Principal) -> bool:
    """A tenant's and an assistant's documents are every member's; a conversation's are
    its owner's only (uploading one needs owning the conversation, so its uploader is
    that owner)."""
    return d.scope.kind in ("tenant", "assistant") or d.user_id == principal.user_id


async def _find(documents: DocumentStore, principal: Principal, document_id: str,
                ) -> Document | None:
    try:
        found = await documents.get(principal.tenant_id, document_id)
    except StoreUnavailable as exc:
        raise _unavailable() from exc
    return found if found is not None and _visible(found, principal) else None


@router.get("", response_model=DocumentList)
async def list_documents(
    services: ServicesDep, principal: PrincipalDep, limit: int = 100,
    scope: Annotated[str | None, Query(max_length=220, description=(
        "only this scope's: `tenant` (the library) or `conversation:<id>`"))] = None,
) -> DocumentList:
    """The documents the caller sees, newest first: the tenant's library and the caller's
    conversations' attachments, or only those of ``scope``."""
    documents, _ = _parts(services)
    where = _scope_of(scope, None) if scope else None
    if where is not None:
        await _check_scope(services, principal, where)
    found = await documents.list_documents(principal.tenant_id, max(1, min(limit, 500)),
                                           where)
    return DocumentList(data=[_out(d) for d in found if _visible(d, principal)])


@router.get("/{document_id}", response_model=DocumentOut)
async def get_document(document_id: str, services: ServicesDep,
                       principal: PrincipalDep) -> DocumentOut:
    documents, _ = _parts(services)
    found = await _find(documents, principal, document_id)
    if found is None:
        raise ApiError(404, "not_found", f"document {document_id} not found")
    return _out(found)


@router.get("/{document_id}/passages/{chunk}", response_model=PassageOut)
async def get_passage(document_id: str, chunk: Annotated[int, Path(ge=0, le=1_000_000)],
                      services: ServicesDep, principal: PrincipalDep) -> PassageOut:
    """One passage of a document the caller sees (what a citation points at), with the
    page it is on for a PDF."""
    documents, vectors = _parts(services)
    found = await _find(documents, principal, document_id)
    if found is None:
        raise ApiError(404, "not_found", f"document {document_id} not found")
    try:
        hit = await vectors.passage(principal.tenant_id, document_id, chunk)
    except StoreUnavailable as exc:
        raise _unavailable() from exc
    if hit is None:
        raise ApiError(404, "not_found", f"document {document_id} has no passage {chunk}")
    return PassageOut(document_id=document_id, title=found.title, chunk=chunk,
                      page=hit.page, text=hit.text)


@router.delete("/{document_id}", status_code=204)
async def delete_document(document_id: str, services: ServicesDep,
                          principal: PrincipalDep) -> Response:
    """Its uploader or a tenant admin deletes a document (404 for others, who may not
    see it; 403 for members who see it but did not upload it). The ownership check
    needs the store: an outage is 503, never an unchecked delete.

    The record goes first, then the passages: ingestion checks the record after each
    batch it indexes, so whichever of the two finishes last removes them."""
    documents, vectors = _parts(services)
    found = await _find(documents, principal, document_id)
    if found is not None and found.user_id != principal.user_id and not principal.is_admin:
        raise ApiError(403, "forbidden", "only its uploader or an admin deletes a document")
    try:
        existed = found is not None and await documents.delete(principal.tenant_id,
                                                               document_id)
        # Even when the record is gone already: a retry after a failed delete cleans up
        # (nothing of anyone's is left to protect once the record is gone).
        if found is not None or await documents.get(principal.tenant_id,
                                                     document_id) is None:
            await vectors.delete_document(principal.tenant_id, document_id)
    except StoreUnavailable as exc:
        raise _unavailable() from exc
    if not existed:
        raise ApiError(404, "not_found", f"document {document_id} not found")
    return Response(status_code=204)
