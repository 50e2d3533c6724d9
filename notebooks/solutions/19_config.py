config_toml = """
bind = ["127.0.0.1:8443"]
workers = 2
certfile = "certs/server.pem"
keyfile = "certs/server-key.pem"
graceful_timeout = 5
"""
