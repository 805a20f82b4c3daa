"""Test helpers: throwaway servers and the fixtures that start them."""
