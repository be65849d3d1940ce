"""Documents for retrieval: upload (multipart), status, list, delete.

An upload is checked here (size, type), stored with its bytes, and announced on
docs.ingest.v1; the ingestion stage does the rest and records its progress on the
document, which is what ``GET /v1/documents/{id}`` shows.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from starlette.datastructures import UploadFile as FilePart

from api.deps import Principal, PrincipalDep, ServicesDep, own_conversation
from api.errors import ApiError
from api.guards.limits import count
from api.services import EdgeServices
from kernel.errors import StoreUnavailable
from schemas.events import DocumentSubmitted, new_id, utcnow
from schemas.http import DocumentList, DocumentOut
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
        created_at=d.created_at, updated_at=d.updated_at or d.created_at)


def _parts(services: EdgeServices) -> tuple[DocumentStore, VectorIndex]:
    if services.documents is None or services.vectors is None:
        raise ApiError(503, "unavailable", "documents are not configured on this edge")
    return services.documents, services.vectors


def _unavailable() -> ApiError:
    # No detail: the store's error names hosts and ports.
    return ApiError(503, "unavailable", "document storage is unavailable; retry shortly",
                    headers={"Retry-After": "5"})


@router.post("", status_code=202, response_model=DocumentOut)
async def upload_document(
    services: ServicesDep, principal: PrincipalDep, request: Request,
    file: Annotated[UploadFile, File(description="PDF, text, Markdown, HTML, PNG or JPEG")],
    conversation_id: Annotated[str | None, Form(
        max_length=200, description="only this conversation retrieves it (the same as "
        "scope=conversation:<id>); empty: the scope decides")] = None,
    title: Annotated[str | None, Form(max_length=200)] = None,
    scope: Annotated[str | None, Form(
        max_length=220, description="where its passages may be cited: `tenant` (the "
        "default: every member's answers) or `conversation:<id>` (only that conversation "
        "of the caller's)")] = None,
) -> DocumentOut:
    documents, _ = _parts(services)
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
    await services.runtime.publisher.publish(INGEST, document.id, DocumentSubmitted(
        tenant_id=document.tenant_id, document_id=document.id, filename=filename,
        media_type=media_type, blob_ref=f"store:documents/{document.id}",
        conversation_id=document.conversation_id, user_id=document.user_id))
    return _out(document)


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
    """Only a scope the caller may add to: the tenant's library, or their own
    conversation (404 otherwise, as for any conversation not theirs)."""
    if scope.kind == "conversation":
        await own_conversation(services, principal, scope.id)


def _visible(d: Document, principal: Principal) -> bool:
    """A tenant's documents are every member's; a conversation's are its owner's only
    (uploading one needs owning the conversation, so its uploader is that owner)."""
    return d.scope.kind == "tenant" or d.user_id == principal.user_id


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
