//! Signature checks for `ossup serve`: V1 and V4, header and presigned forms.
