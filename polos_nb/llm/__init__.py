"""LLM access through litellm, for every provider; nothing here knows of the engine or agents.

litellm itself is imported on the first call, so ``import polos_nb`` stays fast.

```python
from polos_nb.llm import complete, litellm_model

reply = await complete(litellm_model("openai", "gpt-4o-mini"), [{"role": "user", "content": "Hi"}])
print(reply.content, reply.usage)
```
"""

from ._litellm import (
    PROVIDERS,
    Backend,
    BackendRequest,
    complete,
    litellm_model,
    model_requests_allowed,
    register_backend,
    set_price,
)
from ._local import local_model_available
from ._structured import json_schema, parse_structured, response_format
from ._types import LLMResponse, ToolCall, ToolCallFunction, Usage

__all__ = [
    "PROVIDERS",
    "Backend",
    "BackendRequest",
    "LLMResponse",
    "ToolCall",
    "ToolCallFunction",
    "Usage",
    "complete",
    "json_schema",
    "litellm_model",
    "local_model_available",
    "model_requests_allowed",
    "parse_structured",
    "register_backend",
    "response_format",
    "set_price",
]
