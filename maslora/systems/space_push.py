"""Uploading a built Space folder to the Hugging Face Hub, as one commit: the Space changes whole or not at all.

    python -m maslora space --out DIR --push OWNER/NAME

The token is read the usual way (the HF_TOKEN variable, else `hf auth login`'s stored one). The token and
the network are checked before anything is built or sent, so that a missing one changes nothing.
"""

from pathlib import Path

import httpx2  # huggingface_hub's HTTP client: its errors are how an unreachable Hub shows
from huggingface_hub import HfApi, get_token
from huggingface_hub.errors import HFValidationError, OfflineModeIsEnabled
from huggingface_hub.utils import validate_repo_id

from maslora.errors import SpaceError

SPACE_URL = "https://huggingface.co/spaces/{}"


def checked_space_name(name: str) -> str:
    """OWNER/NAME as the Hub accepts it, else a SpaceError saying what is wrong."""
    try:
        validate_repo_id(name)
    except HFValidationError as error:
        raise SpaceError(f"--push {name!r} is not a Space name OWNER/NAME: {error}") from error
    if name.count("/") != 1:
        raise SpaceError(f"--push {name!r} is not a Space name OWNER/NAME (e.g. jane/mas-lora-demo)")
    return name


def hub_session(name: str) -> HfApi:
    """A client holding the user's token, after the Hub has accepted it: no token, a refused one and no
    network each fail here, before anything is built or uploaded."""
    checked_space_name(name)
    token = get_token()
    if token is None:
        raise SpaceError("no Hugging Face token: set HF_TOKEN or run `hf auth login`; nothing was built or pushed")
    api = HfApi(token=token)
    try:
        api.whoami()
    except (httpx2.HTTPError, OfflineModeIsEnabled) as error:  # refusals (HfHubHTTPError), no network, HF_HUB_OFFLINE
        raise SpaceError(f"the Hub cannot be reached or refused the token ({error}); nothing was pushed") from error
    return api


def push_space(api: HfApi, folder: Path, name: str) -> str:
    """Create the Space `name` if it is missing (the Gradio SDK) and upload `folder` as one commit; returns
    the commit's URL. A failure mid-way leaves the Space as it was: the commit is made only at the end."""
    try:
        api.create_repo(name, repo_type="space", space_sdk="gradio", exist_ok=True)
        commit = api.upload_folder(
            repo_id=name,
            repo_type="space",
            folder_path=folder,
            commit_message="The MAS-LoRA demo, built by `python -m maslora space`",
        )
    except httpx2.HTTPError as error:
        raise SpaceError(f"the upload to {SPACE_URL.format(name)} failed ({error}); the Space is unchanged") from error
    return commit.commit_url
