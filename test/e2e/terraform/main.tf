# eniwall EC2 endpoint, driven by the real Terraform AWS provider.
# Used twice: to record test/fixtures/terraform/*.json (against moto, once) and by
# `make e2e-terraform` (scripts/e2e-terraform.sh) against a real daemon.
# `-var v2=true` is the update step: a rule port, a tag, the prefix-list entries
# and an ENI's groups change.

terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}

variable "endpoint" { type = string }
variable "access_key" { type = string }
variable "secret_key" {
  type      = string
  sensitive = true
}
variable "web_tap" { default = "tfweb0" }
variable "web_netns" { default = "tfweb-ns" }
variable "client_tap" { default = "tfcli0" }
variable "client_netns" { default = "tfcli-ns" }
variable "v2" { default = false }

provider "aws" {
  region                      = "us-east-1"
  access_key                  = var.access_key
  secret_key                  = var.secret_key
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  endpoints {
    ec2 = var.endpoint
    sts = var.endpoint
  }
}

resource "aws_vpc" "main" {
  cidr_block = "10.0.0.0/16"
  tags       = { Name = var.v2 ? "tf-vpc-v2" : "tf-vpc" }
}

resource "aws_subnet" "a" {
  vpc_id     = aws_vpc.main.id
  cidr_block = "10.0.1.0/24"
  tags       = { Name = "tf-subnet" }
}

# Clients: inline ingress (SSH from the VPC; a port the web group may reach,
# moved in v2); egress only through the standalone rule below (Terraform
# revokes the default egress of every new group).
resource "aws_security_group" "client" {
  name        = "tf-client"
  description = "clients"
  vpc_id      = aws_vpc.main.id
  ingress {
    protocol    = "tcp"
    from_port   = 22
    to_port     = 22
    cidr_blocks = ["10.0.0.0/16"]
  }
  ingress {
    protocol        = "tcp"
    from_port       = var.v2 ? 7001 : 7000
    to_port         = var.v2 ? 7001 : 7000
    security_groups = [aws_security_group.web.id]
  }
  tags = { Name = "tf-client" }
}

# Web: inline egress only; its ingress comes from the standalone rules below
# (inline and standalone rules of one direction must not be mixed).
resource "aws_security_group" "web" {
  name        = "tf-web"
  description = "web servers"
  vpc_id      = aws_vpc.main.id
  egress {
    protocol    = "-1"
    from_port   = 0
    to_port     = 0
    cidr_blocks = ["0.0.0.0/0"]
  }
  tags = { Name = "tf-web" }
}

resource "aws_vpc_security_group_egress_rule" "client_all" {
  security_group_id = aws_security_group.client.id
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
  tags              = { Name = "client-all" }
}

resource "aws_security_group_rule" "web_8080" {
  type                     = "ingress"
  security_group_id        = aws_security_group.web.id
  protocol                 = "tcp"
  from_port                = 8080
  to_port                  = 8080
  source_security_group_id = aws_security_group.client.id
}

resource "aws_vpc_security_group_ingress_rule" "web_8082" {
  security_group_id = aws_security_group.web.id
  ip_protocol       = "tcp"
  from_port         = var.v2 ? 8092 : 8082
  to_port           = var.v2 ? 8092 : 8082
  cidr_ipv4         = "10.0.0.0/16"
  tags              = { Name = "web-8082" }
}

resource "aws_ec2_managed_prefix_list" "corp" {
  name           = "tf-corp"
  address_family = "IPv4"
  max_entries    = 5
  dynamic "entry" {
    for_each = var.v2 ? ["172.16.0.0/12", "10.0.1.0/24"] : ["172.16.0.0/12", "192.168.0.0/16"]
    content {
      cidr        = entry.value
      description = "corp ${entry.value}"
    }
  }
  tags = { Name = "tf-corp" }
}

resource "aws_vpc_security_group_ingress_rule" "web_pl" {
  security_group_id = aws_security_group.web.id
  ip_protocol       = "tcp"
  from_port         = 8083
  to_port           = 8083
  prefix_list_id    = aws_ec2_managed_prefix_list.corp.id
}

resource "aws_network_interface" "web" {
  subnet_id       = aws_subnet.a.id
  private_ips     = ["10.0.1.10"]
  security_groups = var.v2 ? [aws_security_group.web.id, aws_security_group.client.id] : [aws_security_group.web.id]
  tags = {
    Name            = "tf-web-eni"
    "eniwall:tap"   = var.web_tap
    "eniwall:netns" = var.web_netns
  }
}

resource "aws_network_interface" "client" {
  subnet_id       = aws_subnet.a.id
  private_ips     = ["10.0.1.20"]
  security_groups = [aws_security_group.client.id]
  tags = {
    Name            = "tf-client-eni"
    "eniwall:tap"   = var.client_tap
    "eniwall:netns" = var.client_netns
  }
}
