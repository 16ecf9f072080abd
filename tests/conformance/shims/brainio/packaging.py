"""``brainio.packaging`` -> :mod:`brainbridge.packaging`."""

from _missing import missing

from brainbridge.packaging import package_data_assembly, package_stimulus_set, write_netcdf

TYPE_ASSEMBLY = "assembly"
TYPE_STIMULUS_SET = "stimulus_set"

check_stimulus_numbers = missing(
    "brainio.packaging.check_stimulus_numbers", "a private check of BrainIO's brainio.requested bucket"
)
check_stimulus_naming_convention = missing(
    "brainio.packaging.check_stimulus_naming_convention",
    "a private check of BrainIO's brainio.requested bucket",
)
get_user_info = missing("brainio.packaging.get_user_info", "BrainIO's AWS STS helper (upload tagging)")
upload_to_s3 = missing(
    "brainio.packaging.upload_to_s3", "BrainIO's boto3 uploader; brainbridge uploads with fsspec"
)
boto3 = None  # patched by BrainIO's tests (``brainio.packaging.boto3.client``)
tqdm = None  # patched by BrainIO's tests (``brainio.packaging.tqdm``)

__all__ = [
    "TYPE_ASSEMBLY",
    "TYPE_STIMULUS_SET",
    "check_stimulus_naming_convention",
    "check_stimulus_numbers",
    "get_user_info",
    "package_data_assembly",
    "package_stimulus_set",
    "upload_to_s3",
    "write_netcdf",
]
