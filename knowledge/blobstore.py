"""Where original uploads are kept: `core.blobstore` (moved there so that the privacy erasure in
`analytics` can delete a conversation's voice recordings); the knowledge modules import it from here."""

from core.blobstore import BlobStore, LocalBlobStore, S3BlobStore, get_blob_store

__all__ = ["BlobStore", "LocalBlobStore", "S3BlobStore", "get_blob_store"]
