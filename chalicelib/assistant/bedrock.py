"""The Amazon Bedrock provider: one ConverseStream call per answer, its event stream mapped to Token
chunks and one Usage, its failures translated to errors.ProviderThrottled / ProviderUnavailable.

Tested up to the AWS request only: tests/assistant/test_bedrock.py checks the parameters against
botocore's own ConverseStream model and lets botocore serialize them and parse synthetic binary event
streams, but nothing here has been run against Bedrock itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from typing import Unpack

from chalicelib import aws
from chalicelib.assistant.base import Chunk
from chalicelib.assistant.base import Token
from chalicelib.assistant.base import Usage
from chalicelib.errors import AppError
from chalicelib.errors import ProviderThrottled
from chalicelib.errors import ProviderUnavailable

# Error codes that mean "slow down" rather than "broken": a ClientError's code before the stream,
# or the ``:exception-type`` of an exception event in it (botocore raises those as EventStreamError).
_THROTTLING = frozenset({"throttlingexception", "servicequotaexceededexception"})
# The modeled exception events of ConverseStreamOutput, should one arrive as a parsed event.
_STREAM_EXCEPTIONS = (
    "throttlingException",
    "internalServerException",
    "modelStreamErrorException",
    "validationException",
    "serviceUnavailableException",
)


class BedrockProvider(aws.ClientOwner):
    """The Provider protocol on Bedrock's Converse API; the boto3 client is built on the first call."""

    name = "bedrock"

    def __init__(self, model_id: str, **client_options: Unpack[aws.ClientOptions]) -> None:
        self.model = model_id
        super().__init__(**client_options)

    # read_timeout: between two events of the stream, not for the whole answer. max_attempts: of the
    # initial request (1 = no retry); the stream itself is never retried.
    client = aws.lazy_client("bedrock-runtime", connect_timeout=3.0, read_timeout=60.0, max_attempts=2)

    def request(self, system: str, prompt: str, *, max_tokens: int) -> dict[str, Any]:
        """The ConverseStream parameters for one answer."""
        return {
            "modelId": self.model,
            "system": [{"text": system}],
            "messages": [{"role": "user", "content": [{"text": prompt}]}],
            "inferenceConfig": {"maxTokens": max_tokens},
        }

    def stream(self, system: str, prompt: str, *, max_tokens: int) -> Iterator[Chunk]:
        """Token per text delta, then one Usage: Bedrock's ``metadata`` usage when it sent one, else an
        estimate (words of system and prompt in, text deltas out), so ``done`` always carries usage."""
        from botocore.exceptions import BotoCoreError
        from botocore.exceptions import ClientError
        from urllib3.exceptions import HTTPError as TransportError  # a read failing mid-stream

        try:
            response = self.client.converse_stream(**self.request(system, prompt, max_tokens=max_tokens))
        except ClientError as exc:
            raise _translate(exc) from exc
        except (BotoCoreError, TransportError) as exc:
            raise ProviderUnavailable(f"the model provider is unreachable ({type(exc).__name__})") from exc
        events = response["stream"]
        usage: Usage | None = None
        deltas = 0
        try:
            for event in events:
                if "contentBlockDelta" in event:
                    text = (event["contentBlockDelta"].get("delta") or {}).get("text")
                    if text:  # tool-use and reasoning deltas carry no answer text
                        deltas += 1
                        yield Token(text)
                elif "metadata" in event:
                    counts = event["metadata"].get("usage") or {}
                    usage = Usage(int(counts.get("inputTokens", 0)), int(counts.get("outputTokens", 0)))
                else:
                    failure = _stream_exception(event)
                    if failure is not None:
                        raise failure
        except ClientError as exc:  # EventStreamError: an exception event in the stream
            raise _translate(exc) from exc
        except (BotoCoreError, TransportError, OSError) as exc:
            raise ProviderUnavailable(f"the model's stream broke off ({type(exc).__name__})") from exc
        finally:
            # Also when the consumer stops early (a client went away): release the connection.
            events.close()
        yield usage or Usage(input_tokens=len(system.split()) + len(prompt.split()), output_tokens=deltas)


def _translate(exc: Any) -> AppError:
    # The code only: Bedrock's messages may quote the request, and the request holds the prompt.
    code = exc.response.get("Error", {}).get("Code") or "unknown"
    if code.lower() in _THROTTLING:
        return ProviderThrottled(f"the model provider throttled the call ({code})")
    return ProviderUnavailable(f"the model provider failed ({code})")


def _stream_exception(event: dict[str, Any]) -> AppError | None:
    for code in _STREAM_EXCEPTIONS:
        if code in event:
            if code.lower() in _THROTTLING:
                return ProviderThrottled(f"the model provider throttled the call ({code})")
            return ProviderUnavailable(f"the model provider failed ({code})")
    return None
