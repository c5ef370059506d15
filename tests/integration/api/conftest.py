"""The API tests' fixtures live in ``api_fixtures`` so that the security suite shares them."""

from api_fixtures import embedded, smtp, stack

__all__ = ["embedded", "smtp", "stack"]
