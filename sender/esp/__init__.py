"""ESP adapters (SMTP, Amazon SES v2) behind one interface, and the router that fails over."""
