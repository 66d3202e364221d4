"""The bottom layer of the local deployment: the services' error answers, their dates and JSON, and the
request-check combinators every service composes its body checks from. Imports nothing of the layers above."""
