#pragma once
/// @file error.h
/// @brief The engine's exception type: a message a user can act on.

#include <stdexcept>
#include <string>

namespace repnas {

/// @brief Thrown for bad input or an impossible request; what() names the problem.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace repnas
