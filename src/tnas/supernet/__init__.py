"""tnas.supernet"""
